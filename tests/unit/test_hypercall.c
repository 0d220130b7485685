/* The PV hypercall dispatcher (src/vm/hypercall.c) and its validators, with
 * a fake engine whose state is a struct cpu_state: hostile arguments of
 * every kind return the documented error and change nothing; good ones do
 * what the ABI says; random calls never crash the VMM (ASan) or return to
 * the guest with more privilege than it had. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vm/vm.h"

#define MEM (4u << 20)

static struct cpu_state st;
static unsigned flushes, flush_alls;

static void fake_get(struct vcpu *v, struct cpu_state *s) { (void)v; *s = st; }
static void fake_set(struct vcpu *v, const struct cpu_state *s) { (void)v; st = *s; }
static void fake_flush(struct vcpu *v, uint32_t lin, bool all)
{
	(void)v;
	(void)lin;
	flushes++;
	flush_alls += all;
}

static const struct engine fake = {
	.name = "fake", .get_state = fake_get, .set_state = fake_set, .flush_tlb = fake_flush,
	.hypercalls = true,
};

static struct vm vm;
static struct vcpu vcpu;

/* Guest layout (paging off: linear = physical). */
#define GDT 0x1000u
#define LDT 0x2000u
#define TSS 0x3000u
#define BUF 0x4000u
#define STACK 0x8000u

static void wr32(uint32_t gpa, uint32_t v) { memcpy(vm.ram + gpa, &v, 4); }
static uint32_t rd32(uint32_t gpa)
{
	uint32_t v;
	memcpy(&v, vm.ram + gpa, 4);
	return v;
}

static void desc(uint32_t table, unsigned idx, uint32_t lo, uint32_t hi)
{
	wr32(table + idx * 8, lo);
	wr32(table + idx * 8 + 4, hi);
}

/* Flat 4 GiB segments: access byte a (P DPL S type), G=1 D=1. */
#define FLAT_LO 0x0000ffffu
#define FLAT_HI(a) (0x00cf0000u | ((uint32_t)(a) << 8))

static void reset_guest(void)
{
	memset(vm.ram, 0, MEM);
	desc(GDT, 1, FLAT_LO, FLAT_HI(0x9a)); /* 0x08 kernel code */
	desc(GDT, 2, FLAT_LO, FLAT_HI(0x92)); /* 0x10 kernel data */
	desc(GDT, 3, FLAT_LO, FLAT_HI(0xfa)); /* 0x1b user code */
	desc(GDT, 4, FLAT_LO, FLAT_HI(0xf2)); /* 0x23 user data */
	desc(GDT, 5, (TSS << 16) | 103, 0x00008900u); /* 0x28 TSS, available */
	desc(GDT, 6, (LDT << 16) | 15, 0x00008200u);  /* 0x30 LDT, 2 entries */
	desc(LDT, 0, FLAT_LO, FLAT_HI(0xf2));
	desc(LDT, 1, FLAT_LO, FLAT_HI(0xfa));
	cpu_state_multiboot_entry(&st, 0x100000, 0);
	st.gdtr = (struct dtr){ GDT, 7 * 8 - 1 };
	st.gpr[R_ESP] = STACK;
	vm.pv.shared_gpa = 0;
	vm.stop = false;
	flushes = flush_alls = 0;
}

static int32_t call(uint32_t nr, uint32_t b, uint32_t c, uint32_t d)
{
	st.gpr[R_EAX] = nr;
	st.gpr[R_EBX] = b;
	st.gpr[R_ECX] = c;
	st.gpr[R_EDX] = d;
	hypercall_handle(&vcpu);
	return (int32_t)st.gpr[R_EAX];
}

static void test_validators(void)
{
	CHECK("hc.desc_gdt_kernel_code", pv_check_descriptor(FLAT_LO, FLAT_HI(0x9a), false) == 0, "rejected");
	CHECK("hc.desc_ldt_dpl0_code", pv_check_descriptor(FLAT_LO, FLAT_HI(0x9a), true) == -RINGVM_EINVAL,
	      "a DPL 0 code segment in an LDT was accepted");
	CHECK("hc.desc_ldt_dpl0_conforming", pv_check_descriptor(FLAT_LO, FLAT_HI(0x9e), true) == -RINGVM_EINVAL,
	      "a DPL 0 conforming code segment in an LDT was accepted");
	CHECK("hc.desc_ldt_user_code", pv_check_descriptor(FLAT_LO, FLAT_HI(0xfa), true) == 0, "rejected");
	CHECK("hc.desc_gdt_call_gate", pv_check_descriptor(0x00080000u, 0x0000ec00u, false) == -RINGVM_EINVAL,
	      "a DPL 3 call gate was accepted");
	CHECK("hc.desc_gdt_task_gate", pv_check_descriptor(0, 0x0000e500u, false) == -RINGVM_EINVAL,
	      "a task gate was accepted");
	CHECK("hc.desc_gdt_tss_ldt", pv_check_descriptor(0, 0x00008900u, false) == 0 &&
					     pv_check_descriptor(0, 0x00008200u, false) == 0,
	      "TSS or LDT descriptor rejected");
	CHECK("hc.desc_ldt_system", pv_check_descriptor(0, 0x00008200u, true) == -RINGVM_EINVAL,
	      "an LDT descriptor inside an LDT was accepted");
	CHECK("hc.desc_not_present", pv_check_descriptor(0, 0x00000c00u, false) == 0, "rejected");

	CHECK("hc.pte_inside", pv_check_pte_gpa(MEM, 0) == 0 && pv_check_pte_gpa(MEM, MEM - 4) == 0,
	      "rejected");
	CHECK("hc.pte_outside", pv_check_pte_gpa(MEM, MEM) == -RINGVM_EFAULT &&
					pv_check_pte_gpa(MEM, 0xfffffffcu) == -RINGVM_EFAULT,
	      "accepted");
	CHECK("hc.pte_unaligned", pv_check_pte_gpa(MEM, 0x1002) == -RINGVM_EINVAL, "accepted");
	CHECK("hc.pte_invlpg_marker", pv_check_pte_gpa(MEM, RINGVM_MMU_INVLPG) == 0, "rejected");

	static const uint64_t hz[] = { 100000000ull, 1000000000ull, 2450000000ull, 10000000000ull };
	bool ok = true;
	for (unsigned i = 0; i < 4; i++) {
		uint32_t mul;
		int8_t shift;
		pv_clock_scale(hz[i], &mul, &shift);
		uint64_t ticks = hz[i]; /* one second */
		uint64_t d = shift >= 0 ? ticks << shift : ticks >> -shift;
		uint64_t ns = (uint64_t)(((unsigned __int128)d * mul) >> 32);
		if (ns < 999999000ull || ns > 1000001000ull) {
			ok = false;
			printf("# %llu Hz: one second = %llu ns (mul %u shift %d)\n",
			       (unsigned long long)hz[i], (unsigned long long)ns, mul, shift);
		}
	}
	CHECK("hc.clock_scale", ok, "a second of TSC is not 1e9 ns within 1 ppm");

	uint32_t out[4];
	bool sig = pv_cpuid(0x40000000u, out) && out[0] == 0x40000001u &&
		   !memcmp(&out[1], "Ring", 4) && !memcmp(&out[2], "VMRi", 4) && !memcmp(&out[3], "ngVM", 4);
	bool info = pv_cpuid(0x40000001u, out) && out[0] == RINGVM_PV_VERSION &&
		    out[1] == RINGVM_PV_PORT && out[3] == RINGVM_PV_MMU_BATCH_MAX;
	bool range = !pv_cpuid(0x3fffffffu, out) && !pv_cpuid(0x40000100u, out) &&
		     pv_cpuid(0x400000ffu, out) && out[0] == 0;
	CHECK("hc.cpuid_leaves", sig && info && range, "signature %d info %d range %d", sig, info, range);
}

static void test_walk(void)
{
	reset_guest();
	/* PD at 0x10000: PDE 0 -> PT at 0x11000 (PTE 5 -> 0x20000, read-only),
	 * PDE 1 a 4 MiB page at 0 (PSE), PDE 2 -> a table outside RAM. */
	wr32(0x10000, 0x11000 | 3);
	wr32(0x10004, 0x00000083u);
	wr32(0x10008, 0xf0000003u);
	wr32(0x11000 + 5 * 4, 0x20000 | 1);
	struct cpu_state s = st;
	s.cr0 |= CR0_PG | CR0_WP;
	s.cr3 = 0x10000;
	s.cr4 = CR4_PSE;
	uint64_t pa = 0;
	int r1 = pv_lin_to_phys(vm.ram, MEM, &s, 0x5123, false, &pa);
	CHECK("hc.walk_4k", r1 == 0 && pa == 0x20123, "r %d pa %llx", r1, (unsigned long long)pa);
	CHECK("hc.walk_wp", pv_lin_to_phys(vm.ram, MEM, &s, 0x5123, true, &pa) == -RINGVM_EFAULT,
	      "a write through a read-only PTE with CR0.WP was allowed");
	int r2 = pv_lin_to_phys(vm.ram, MEM, &s, 0x401234, false, &pa);
	CHECK("hc.walk_pse", r2 == 0 && pa == 0x1234, "r %d pa %llx", r2, (unsigned long long)pa);
	CHECK("hc.walk_not_present", pv_lin_to_phys(vm.ram, MEM, &s, 0x6000, false, &pa) == -RINGVM_EFAULT,
	      "a not-present page was translated");
	CHECK("hc.walk_table_outside_ram",
	      pv_lin_to_phys(vm.ram, MEM, &s, 0x800000, false, &pa) == -RINGVM_EFAULT,
	      "a page table outside RAM was read");
	s.cr4 = 0;
	/* Without CR4.PSE the PS bit means nothing: PDE 1 names a table at
	 * physical 0, whose entry 1 is not present. */
	CHECK("hc.walk_no_pse", pv_lin_to_phys(vm.ram, MEM, &s, 0x401234, false, &pa) == -RINGVM_EFAULT,
	      "PS honoured without CR4.PSE: got %llx", (unsigned long long)pa);
}

static void test_calls(void)
{
	reset_guest();
	CHECK("hc.version", call(RINGVM_HC_VERSION, 0, 0, 0) == RINGVM_PV_VERSION, "wrong version");
	CHECK("hc.unknown", call(RINGVM_HC_COUNT, 0, 0, 0) == -RINGVM_ENOSYS &&
				    call(0xffffffffu, 0, 0, 0) == -RINGVM_ENOSYS,
	      "unknown numbers not refused");

	struct cpu_state saved = st;
	st.seg[S_SS].dpl = 3;
	CHECK("hc.cpl3_refused", call(RINGVM_HC_SET_CR3, 0x10000, 0, 0) == -RINGVM_EPERM && st.cr3 == 0,
	      "a call from CPL 3 was served");
	st = saved;

	/* Page-table batches. */
	struct ringvm_pv_mmu_op ops[3] = { { 0x5000, 0x1111 }, { RINGVM_MMU_INVLPG, 0x7000 }, { 0x5004, 0x2222 } };
	memcpy(vm.ram + BUF, ops, sizeof ops);
	CHECK("hc.mmu_batch", call(RINGVM_HC_MMU_UPDATE, BUF, 3, 0) == 3 && rd32(0x5000) == 0x1111 &&
				      rd32(0x5004) == 0x2222 && flushes == 1 && !flush_alls,
	      "batch not applied: %x %x, %u flushes", rd32(0x5000), rd32(0x5004), flushes);
	ops[0].val = 0x3333;
	ops[2].pte_gpa = MEM; /* outside RAM: nothing of the batch may happen */
	memcpy(vm.ram + BUF, ops, sizeof ops);
	CHECK("hc.mmu_batch_all_or_nothing",
	      call(RINGVM_HC_MMU_UPDATE, BUF, 3, 0) == -RINGVM_EFAULT && rd32(0x5000) == 0x1111 && flushes == 1,
	      "a refused batch wrote %x / flushed %u", rd32(0x5000), flushes);
	CHECK("hc.mmu_batch_too_long",
	      call(RINGVM_HC_MMU_UPDATE, BUF, RINGVM_PV_MMU_BATCH_MAX + 1, 0) == -RINGVM_E2BIG &&
		      call(RINGVM_HC_MMU_UPDATE, BUF, 0xffffffffu, 0) == -RINGVM_E2BIG,
	      "an over-long batch was not refused");
	CHECK("hc.mmu_list_outside_ram", call(RINGVM_HC_MMU_UPDATE, MEM - 8, 2, 0) == -RINGVM_EFAULT &&
						 call(RINGVM_HC_MMU_UPDATE, 0xfffffff8u, 2, 0) == -RINGVM_EFAULT,
	      "a list outside RAM was read");

	CHECK("hc.cr3", call(RINGVM_HC_SET_CR3, 0x10000, 0, 0) == 0 && st.cr3 == 0x10000 &&
				call(RINGVM_HC_SET_CR3, MEM, 0, 0) == -RINGVM_EFAULT && st.cr3 == 0x10000,
	      "cr3 %x", st.cr3);
	CHECK("hc.tlb_flush", call(RINGVM_HC_TLB_FLUSH, RINGVM_FLUSH_ALL, 0, 0) == 0 && flush_alls == 1,
	      "no full flush");

	/* Descriptor tables. */
	desc(BUF, 1, FLAT_LO, FLAT_HI(0x9a));
	desc(BUF, 2, 0x00080000u, 0x0000ec00u); /* a DPL 3 call gate */
	CHECK("hc.set_gdt_gate", call(RINGVM_HC_SET_GDT, BUF, 23, 0) == -RINGVM_EINVAL && st.gdtr.base == GDT,
	      "a GDT with a call gate was taken");
	CHECK("hc.set_gdt_ok", call(RINGVM_HC_SET_GDT, BUF, 15, 0) == 0 && st.gdtr.base == BUF &&
				       st.gdtr.limit == 15,
	      "gdtr %x/%x", st.gdtr.base, st.gdtr.limit);
	CHECK("hc.set_gdt_outside", call(RINGVM_HC_SET_GDT, MEM - 8, 15, 0) == -RINGVM_EFAULT &&
					    call(RINGVM_HC_SET_GDT, GDT, 0x10000, 0) == -RINGVM_EINVAL,
	      "a GDT outside RAM or over 64 KiB was taken");
	call(RINGVM_HC_SET_GDT, GDT, 7 * 8 - 1, 0);
	CHECK("hc.set_ldt_ok", call(RINGVM_HC_SET_LDT, 0x30, 0, 0) == 0 && st.ldtr.base == LDT &&
				       !st.ldtr.unusable,
	      "ldtr %x", st.ldtr.base);
	desc(LDT, 1, FLAT_LO, FLAT_HI(0x9a)); /* DPL 0 code in the LDT */
	CHECK("hc.set_ldt_dpl0_code", call(RINGVM_HC_SET_LDT, 0x30, 0, 0) == -RINGVM_EINVAL,
	      "an LDT with DPL 0 code was taken");
	desc(LDT, 1, FLAT_LO, FLAT_HI(0xfa));
	CHECK("hc.set_ldt_not_ldt", call(RINGVM_HC_SET_LDT, 0x08, 0, 0) == -RINGVM_EINVAL &&
					    call(RINGVM_HC_SET_LDT, 0x34, 0, 0) == -RINGVM_EINVAL &&
					    call(RINGVM_HC_SET_LDT, 0x1000, 0, 0) == -RINGVM_EINVAL,
	      "a non-LDT selector was taken");
	CHECK("hc.load_tr", call(RINGVM_HC_LOAD_TR, 0x08, 0, 0) == -RINGVM_EINVAL &&
				    call(RINGVM_HC_LOAD_TR, 0x28, 0, 0) == 0 && st.tr.base == TSS &&
				    st.tr.type == 0xb && (rd32(GDT + 0x2c) & 0x200),
	      "tr %x type %x", st.tr.base, st.tr.type);
	CHECK("hc.load_tr_busy", call(RINGVM_HC_LOAD_TR, 0x28, 0, 0) == -RINGVM_EINVAL,
	      "a busy TSS was loaded again");
	CHECK("hc.kstack", call(RINGVM_HC_SET_KSTACK, 0x10, 0x9000, 0) == 0 && rd32(TSS + 4) == 0x9000 &&
				   rd32(TSS + 8) == 0x10,
	      "esp0 %x ss0 %x", rd32(TSS + 4), rd32(TSS + 8));
	CHECK("hc.kstack_user_ss", call(RINGVM_HC_SET_KSTACK, 0x23, 0x1, 0) == -RINGVM_EINVAL &&
					   call(RINGVM_HC_SET_KSTACK, 0x08, 0x1, 0) == -RINGVM_EINVAL &&
					   rd32(TSS + 4) == 0x9000,
	      "a user or code SS0 was taken");

	/* Return to ring 3. */
	uint32_t frame[6] = { 0xabcd, 0x400000, 0x1b, 0x3202, 0x7000, 0x23 };
	memcpy(vm.ram + STACK, frame, sizeof frame);
	int32_t r = call(RINGVM_HC_IRET, 0, 0, 0);
	CHECK("hc.iret", r == 0xabcd && st.eip == 0x400000 && st.seg[S_CS].dpl == 3 && st.seg[S_SS].dpl == 3 &&
				 st.gpr[R_ESP] == 0x7000 && (st.eflags & EFLAGS_IF) &&
				 !(st.eflags & EFLAGS_IOPL) && st.seg[S_DS].unusable,
	      "eax %x eip %x cs dpl %u eflags %x ds unusable %u", (uint32_t)r, st.eip, st.seg[S_CS].dpl,
	      st.eflags, st.seg[S_DS].unusable);
	static const uint32_t bad[][2] = { { 0x0b, 0x23 }, { 0x08, 0x23 }, { 0x1b, 0x13 },
					   { 0x1b, 0x1b }, { 0x03, 0x23 }, { 0xfffb, 0x23 } };
	bool all_refused = true;
	for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		reset_guest();
		frame[2] = bad[i][0];
		frame[5] = bad[i][1];
		memcpy(vm.ram + STACK, frame, sizeof frame);
		if (call(RINGVM_HC_IRET, 0, 0, 0) != -RINGVM_EINVAL || st.seg[S_CS].dpl != 0) {
			all_refused = false;
			printf("# iret to cs %x ss %x accepted\n", bad[i][0], bad[i][1]);
		}
	}
	CHECK("hc.iret_privilege", all_refused, "an IRET frame to a privileged or bad segment was taken");
	reset_guest();
	st.gpr[R_ESP] = MEM - 8;
	CHECK("hc.iret_frame_outside", call(RINGVM_HC_IRET, 0, 0, 0) == -RINGVM_EFAULT, "read past RAM");

	/* The shared page and the virtual IF. */
	reset_guest();
	CHECK("hc.shared_bad", call(RINGVM_HC_SET_SHARED, 0x5004, 0, 0) == -RINGVM_EINVAL &&
				       call(RINGVM_HC_SET_SHARED, MEM, 0, 0) == -RINGVM_EFAULT &&
				       call(RINGVM_HC_SET_SHARED, MEM - 0x800, 0, 0) == -RINGVM_EINVAL &&
				       !vm.pv.shared_gpa,
	      "a bad shared page was taken");
	CHECK("hc.shared", call(RINGVM_HC_SET_SHARED, 0x6000, 0, 0) == 0 && vm.pv.shared_gpa == 0x6000 &&
				   vm.ram[0x6000] == 1 && (st.eflags & EFLAGS_IF),
	      "masked %u eflags %x", vm.ram[0x6000], st.eflags);
	struct ringvm_pv_shared *sh = (void *)(vm.ram + 0x6000);
	CHECK("hc.irq_held", !pv_irq_accepted(&vm) && sh->irq_pending == 1, "masked interrupt not held");
	sh->irq_masked = 0;
	CHECK("hc.irq_released", pv_irq_accepted(&vm) && sh->irq_pending == 0, "unmasked interrupt held");
	CHECK("hc.clock_published", sh->clock.version && !(sh->clock.version & 1) && sh->clock.tsc_to_system_mul,
	      "version %u mul %u", sh->clock.version, sh->clock.tsc_to_system_mul);

	/* State reads and the console. */
	reset_guest();
	CHECK("hc.read_state", call(RINGVM_HC_READ_STATE, BUF, 0, 0) == 0 && rd32(BUF) == GDT,
	      "gdt base %x", rd32(BUF));
	CHECK("hc.read_state_outside", call(RINGVM_HC_READ_STATE, MEM - 4, 0, 0) == -RINGVM_EFAULT &&
					       rd32(MEM - 4) == 0,
	      "wrote past RAM, or partly");
	memcpy(vm.ram + BUF, "# hello from the PV console\n", 28);
	CHECK("hc.console", call(RINGVM_HC_CONSOLE_WRITE, BUF, 28, 0) == 28 &&
				    call(RINGVM_HC_CONSOLE_WRITE, BUF, 5000, 0) == -RINGVM_E2BIG &&
				    call(RINGVM_HC_CONSOLE_WRITE, MEM - 10, 20, 0) == -RINGVM_EFAULT,
	      "console write results");
	CHECK("hc.shutdown", call(RINGVM_HC_SHUTDOWN, 3, 0, 0) == 0 && vm.stop && vm.exit_status == 7,
	      "stop %d status %d", vm.stop, vm.exit_status);
}

/* Random calls: never a crash (ASan/UBSan would say), only documented
 * results, and never a return to less than CPL 0 with a DPL < 3 segment. */
static void test_random(void)
{
	srand(11);
	unsigned bad = 0;
	for (unsigned i = 0; i < 200000; i++) {
		if (i % 1000 == 0)
			reset_guest();
		uint32_t a[3];
		for (int k = 0; k < 3; k++) {
			uint32_t r = (uint32_t)rand() ^ ((uint32_t)rand() << 16);
			switch (rand() % 4) {
			case 0: a[k] = r; break;
			case 1: a[k] = r % 0x10000; break;
			case 2: a[k] = MEM - (r % 64); break;
			default: a[k] = r % 0x80; break;
			}
		}
		uint32_t nr = (uint32_t)rand() % (RINGVM_HC_COUNT + 2);
		if (nr == RINGVM_HC_SHUTDOWN || nr == RINGVM_HC_HALT || nr == RINGVM_HC_CONSOLE_WRITE)
			continue; /* tested above; random bytes on stdout would garble the report */
		/* Sometimes random bytes where tables and frames live. */
		if (rand() % 8 == 0)
			for (int k = 0; k < 16; k++)
				vm.ram[(unsigned)rand() % 0x9000] = (uint8_t)rand();
		st.gpr[R_ESP] = (uint32_t)rand() % 3 ? STACK : a[2];
		int32_t r = call(nr, a[0], a[1], a[2]);
		bool documented = r >= 0 || r == -RINGVM_EPERM || r == -RINGVM_EFAULT ||
				  r == -RINGVM_EINVAL || r == -RINGVM_E2BIG || r == -RINGVM_ENOSYS;
		bool sane = st.seg[S_CS].dpl == st.seg[S_SS].dpl && (st.seg[S_SS].dpl == 0 || st.seg[S_SS].dpl == 3);
		if ((!documented && nr != RINGVM_HC_IRET) || !sane) {
			if (bad++ < 5)
				printf("# call %u (%x %x %x) -> %d, cs dpl %u ss dpl %u\n", nr, a[0], a[1], a[2], r,
				       st.seg[S_CS].dpl, st.seg[S_SS].dpl);
		}
		if (st.seg[S_SS].dpl == 3)
			reset_guest(); /* the guest is in user mode now: calls would be refused */
	}
	CHECK("hc.random_calls", bad == 0, "%u calls gave undocumented results or privilege", bad);
}

/* The doorbell: only a 32-bit OUT, only on an engine that honours it. */
static void test_doorbell(void)
{
	uint8_t d[4] = { 0 };
	vcpu.hypercall = false;
	vcpu_pio(&vcpu, RINGVM_PV_PORT, d, 4, true);
	bool rang = vcpu.hypercall;
	vcpu.hypercall = false;
	vcpu_pio(&vcpu, RINGVM_PV_PORT, d, 1, true);
	vcpu_pio(&vcpu, RINGVM_PV_PORT, d, 4, false);
	bool other_sizes = vcpu.hypercall;
	static const struct engine plain = { .name = "plain", .get_state = fake_get, .set_state = fake_set };
	vcpu.engine = &plain;
	vcpu_pio(&vcpu, RINGVM_PV_PORT, d, 4, true);
	bool plain_rang = vcpu.hypercall;
	vcpu.engine = &fake;
	vcpu.hypercall = false;
	CHECK("hc.doorbell", rang && !other_sizes && !plain_rang,
	      "32-bit OUT rang %d, other accesses %d, engine without hypercalls %d", rang, other_sizes,
	      plain_rang);
}

/* KVM's paravirtual clock (kvm_para.c): leaves, MSRs, records. */
static void test_kvm_para(void)
{
	reset_guest();
	uint32_t out[4];
	bool sig = kvm_para_cpuid(0x40000100u, out) && out[0] == 0x40000101u &&
		   !memcmp(&out[1], "KVMKVMKVM\0\0\0", 12);
	bool feat = kvm_para_cpuid(0x40000101u, out) && (out[0] & KVM_PARA_F_CLOCKSOURCE2) &&
		    (out[0] & KVM_PARA_F_CLOCKSOURCE_STABLE);
	bool range = !kvm_para_cpuid(0x400000ffu, out) && !kvm_para_cpuid(0x40000200u, out);
	CHECK("kvm_para.cpuid", sig && feat && range, "signature %d features %d range %d", sig, feat, range);

	uint64_t v = 1;
	CHECK("kvm_para.other_msrs", !kvm_para_rdmsr(&vm, 0x4b564d02u, &v) && !kvm_para_wrmsr(&vm, 0x10, 0, 0),
	      "an MSR that is not kvm-clock's was claimed");
	CHECK("kvm_para.system_time_outside_ram",
	      !kvm_para_wrmsr(&vm, MSR_KVM_SYSTEM_TIME_NEW, MEM | 1, 0) &&
		      !kvm_para_wrmsr(&vm, MSR_KVM_SYSTEM_TIME_NEW, (MEM - 16) | 1, 0) &&
		      !kvm_para_wrmsr(&vm, MSR_KVM_SYSTEM_TIME_NEW, 0x5002 | 1, 0) &&
		      !kvm_para_wrmsr(&vm, MSR_KVM_WALL_CLOCK_NEW, MEM - 4, 0),
	      "a record outside RAM (or unaligned) was taken");
	CHECK("kvm_para.system_time", kvm_para_wrmsr(&vm, MSR_KVM_SYSTEM_TIME_NEW, 0x5000 | 1, 123456) &&
					      rd32(0x5000) == 2 && rd32(0x5008) == 123456 &&
					      rd32(0x5018) != 0 && (vm.ram[0x501d] & 1) &&
					      kvm_para_rdmsr(&vm, MSR_KVM_SYSTEM_TIME_NEW, &v) && v == (0x5000 | 1),
	      "version %u tsc %u mul %u flags %u msr %llx", rd32(0x5000), rd32(0x5008), rd32(0x5018),
	      vm.ram[0x501d], (unsigned long long)v);
	CHECK("kvm_para.disable", kvm_para_wrmsr(&vm, MSR_KVM_SYSTEM_TIME_NEW, MEM + 0x1000, 0),
	      "disabling (bit 0 clear) with any address must be accepted");
	CHECK("kvm_para.wall_clock", kvm_para_wrmsr(&vm, MSR_KVM_WALL_CLOCK_NEW, 0x5100, 0) &&
					     rd32(0x5100) == 2 && rd32(0x5104) > 1577836800u &&
					     rd32(0x5108) < 1000000000u,
	      "version %u sec %u nsec %u", rd32(0x5100), rd32(0x5104), rd32(0x5108));
}

int main(void)
{
	struct vm_config cfg = { .mem_size = MEM };
	if (vm_create(&vm, &cfg) < 0) {
		CHECK("hc.vm_create", false, "vm_create failed");
		CHECK_DONE();
	}
	vcpu.vm = &vm;
	vcpu.engine = &fake;
	test_validators();
	test_walk();
	test_calls();
	test_random();
	test_doorbell();
	test_kvm_para();
	vm_destroy(&vm);
	CHECK_DONE();
}
