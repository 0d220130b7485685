/*
 * Unit tests of the shared CPU core (src/cpu/): segment loads, IDT
 * delivery and IRET across privilege levels, double/triple fault, paging
 * (#PF error codes, A/D bits, 4 MiB pages, page tables outside RAM),
 * self-modifying code, #UD for unimplemented instructions, REP string
 * ops, #DE. Guest code is hand-assembled into a small RAM buffer.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cpu/cpu.h"
#include "cpu/cpumodel.h"
#include "cpu/decode.h"
#include "cpu/exec.h"
#include "vm/vm.h"

#define RAM_SIZE (16u << 20)
#define GDT 0x1000u
#define IDT 0x2000u
#define TSS 0x3000u
#define STACK0 0x8000u
#define STACK3 0x9000u
#define CODE 0x10000u
#define HANDLER 0x11000u
#define PD 0x20000u
#define PT 0x21000u

#define RUN_EXCEPTION (-2) /* cpu_run's result when exc_return is set */

static uint8_t *ram;
static struct cpu cpu;

static void put32(uint32_t a, uint32_t v)
{
	memcpy(ram + a, &v, 4);
}

static uint32_t get32(uint32_t a)
{
	uint32_t v;
	memcpy(&v, ram + a, 4);
	return v;
}

static void put_bytes(uint32_t a, const char *hex)
{
	/* "b8 01 00 00 00" */
	while (*hex) {
		while (*hex == ' ')
			hex++;
		if (!*hex)
			break;
		ram[a++] = (uint8_t)strtoul(hex, (char **)&hex, 16);
	}
}

static void gdt_entry(int idx, uint32_t base, uint32_t limit, uint8_t access, uint8_t flags)
{
	uint32_t lo = (limit & 0xffff) | (base << 16);
	uint32_t hi = ((base >> 16) & 0xff) | ((uint32_t)access << 8) | (limit & 0xf0000) |
		      ((uint32_t)flags << 20) | (base & 0xff000000u);
	put32(GDT + idx * 8, lo);
	put32(GDT + idx * 8 + 4, hi);
}

static void idt_gate(int vec, uint32_t off, uint16_t sel, uint8_t type_attr)
{
	put32(IDT + vec * 8, (off & 0xffff) | ((uint32_t)sel << 16));
	put32(IDT + vec * 8 + 4, (off & 0xffff0000u) | ((uint32_t)type_attr << 8));
}

static struct seg mkseg(uint16_t sel, uint8_t type, int dpl)
{
	struct seg s = { .sel = sel, .base = 0, .limit = 0xffffffffu, .type = type, .s = 1,
			 .dpl = (uint8_t)dpl, .present = 1, .db = 1, .g = 1 };
	return s;
}

/* A fresh machine: GDT (null, code0 0x08, data0 0x10, code3 0x1b, data3
 * 0x23, TSS 0x28, not-present data 0x30), IDT of 256 ring-0 interrupt
 * gates to HANDLER (0x80 callable from ring 3), TSS with SS0:ESP0. */
static void machine(int cpl)
{
	memset(ram, 0, RAM_SIZE);
	gdt_entry(1, 0, 0xfffff, 0x9a, 0xc);
	gdt_entry(2, 0, 0xfffff, 0x92, 0xc);
	gdt_entry(3, 0, 0xfffff, 0xfa, 0xc);
	gdt_entry(4, 0, 0xfffff, 0xf2, 0xc);
	gdt_entry(5, TSS, 0x67, 0x89, 0);
	gdt_entry(6, 0, 0xfffff, 0x12, 0xc); /* P=0 */
	for (int v = 0; v < 256; v++)
		idt_gate(v, HANDLER, 0x08, v == 0x80 ? 0xee : 0x8e);
	put32(TSS + 4, STACK0);
	put32(TSS + 8, 0x10);
	put_bytes(HANDLER, "f4"); /* hlt */

	cpu_fini(&cpu);
	cpu_init(&cpu, ram, RAM_SIZE, NULL);
	struct cpu_state s;
	cpu_get_state(&cpu, &s);
	uint16_t cs = cpl ? 0x1b : 0x08, ds = cpl ? 0x23 : 0x10;
	s.seg[S_CS] = mkseg(cs, 0xb, cpl);
	for (int k = 0; k < SREG_COUNT; k++)
		if (k != S_CS)
			s.seg[k] = mkseg(ds, 0x3, cpl);
	s.gdtr.base = GDT;
	s.gdtr.limit = 7 * 8 - 1;
	s.idtr.base = IDT;
	s.idtr.limit = 256 * 8 - 1;
	s.tr = (struct seg){ .sel = 0x28, .base = TSS, .limit = 0x67, .type = 0xb, .present = 1 };
	s.eip = CODE;
	s.gpr[R_ESP] = cpl ? STACK3 : STACK0;
	s.eflags = 0x2;
	cpu_set_state(&cpu, &s);
	cpu.exc_return = true;
}

static struct cpu_state state(void)
{
	struct cpu_state s;
	cpu_get_state(&cpu, &s);
	return s;
}

static void test_segments(void)
{
	machine(0);
	put_bytes(CODE, "66 b8 40 00  8e d8"); /* mov ax,0x40; mov ds,ax */
	int r = cpu_run(&cpu, 100);
	CHECK("cpu.seg.beyond_gdt_limit_gp", r == RUN_EXCEPTION && cpu.exc_vec == EXC_GP &&
		      cpu.exc_err == 0x40 && cpu.eip == CODE + 4,
	      "r=%d vec=%d err=%#x eip=%#x", r, cpu.exc_vec, cpu.exc_err, cpu.eip);

	machine(0);
	put_bytes(CODE, "66 b8 30 00  8e d8"); /* selector 0x30: not present */
	r = cpu_run(&cpu, 100);
	CHECK("cpu.seg.not_present_np", r == RUN_EXCEPTION && cpu.exc_vec == EXC_NP &&
		      cpu.exc_err == 0x30, "vec=%d err=%#x", cpu.exc_vec, cpu.exc_err);

	machine(0);
	put_bytes(CODE, "31 c0  8e d0"); /* xor eax,eax; mov ss,ax */
	r = cpu_run(&cpu, 100);
	CHECK("cpu.seg.null_ss_gp0", r == RUN_EXCEPTION && cpu.exc_vec == EXC_GP &&
		      cpu.exc_err == 0, "vec=%d err=%#x", cpu.exc_vec, cpu.exc_err);

	machine(0);
	put_bytes(CODE, "31 c0  8e d8  a1 00 00 00 00"); /* null DS loads; using it faults */
	r = cpu_run(&cpu, 100);
	CHECK("cpu.seg.null_ds_use_gp0", r == RUN_EXCEPTION && cpu.exc_vec == EXC_GP &&
		      cpu.exc_err == 0 && cpu.eip == CODE + 4, "vec=%d eip=%#x", cpu.exc_vec, cpu.eip);

	/* A 4 GiB data segment with a base (Linux's per-CPU FS): loads and
	 * stores go to base + offset on the fast path; an offset whose last
	 * byte wraps past 4 GiB is still #GP, as in the general path. */
	machine(0);
	gdt_entry(6, 0x5000, 0xfffff, 0x92, 0xc);
	put32(0x5010, 0x11223344);
	put32(0x10, 0xdeadbeef); /* what a fast path that forgot the base would read */
	/* mov ax,0x30; mov fs,ax; mov ebx,0x12345678; mov edx,[0x10] (linear
	 * page 0 now in the TLB); mov eax,fs:[0x10] twice (the TLB misses,
	 * then hits); mov fs:[0x20],ebx; movzx ecx,word fs:[0x12]; hlt */
	put_bytes(CODE, "66 b8 30 00  8e e0  bb 78 56 34 12  8b 15 10 00 00 00 "
			"64 a1 10 00 00 00  64 a1 10 00 00 00 "
			"64 89 1d 20 00 00 00  64 0f b7 0d 12 00 00 00  f4");
	r = cpu_run(&cpu, 100);
	CHECK("cpu.seg.based_4g_fast_path", r == EXIT_HLT && cpu.r.r32[R_EAX] == 0x11223344 &&
		      get32(0x5020) == 0x12345678 && cpu.r.r32[R_ECX] == 0x1122,
	      "r=%d eax=%#x [0x5020]=%#x ecx=%#x", r, cpu.r.r32[R_EAX], get32(0x5020),
	      cpu.r.r32[R_ECX]);
	machine(0);
	gdt_entry(6, 0x5000, 0xfffff, 0x92, 0xc);
	put_bytes(CODE, "66 b8 30 00  8e e0  64 a1 fe ff ff ff"); /* mov eax,fs:[0xfffffffe] */
	r = cpu_run(&cpu, 100);
	CHECK("cpu.seg.based_4g_wrap_gp", r == RUN_EXCEPTION && cpu.exc_vec == EXC_GP &&
		      cpu.exc_err == 0 && cpu.eip == CODE + 6,
	      "r=%d vec=%d err=%#x eip=%#x", r, cpu.exc_vec, cpu.exc_err, cpu.eip);

	machine(3);
	put_bytes(CODE, "66 b8 10 00  8e d8"); /* ring 3 loads a DPL-0 data segment */
	r = cpu_run(&cpu, 100);
	CHECK("cpu.seg.dpl_check_gp", r == RUN_EXCEPTION && cpu.exc_vec == EXC_GP &&
		      cpu.exc_err == 0x10, "vec=%d err=%#x", cpu.exc_vec, cpu.exc_err);
}

static void test_idt_privilege(void)
{
	machine(3);
	put_bytes(CODE, "cd 80  90");
	put_bytes(HANDLER, "cf"); /* iret */
	struct cpu_state s = state();
	s.eflags = 0x202 | EFLAGS_CF;
	cpu_set_state(&cpu, &s);
	cpu.exc_return = false;
	int r = cpu_run(&cpu, 1);
	s = state();
	bool frame = get32(STACK0 - 4) == 0x23 && get32(STACK0 - 8) == STACK3 &&
		     (get32(STACK0 - 12) & 0x203) == 0x203 && get32(STACK0 - 16) == 0x1b &&
		     get32(STACK0 - 20) == CODE + 2;
	CHECK("cpu.idt.ring3_to_ring0_stack_switch",
	      r == EXIT_NONE && s.seg[S_CS].sel == 0x08 && s.seg[S_SS].sel == 0x10 &&
		      s.gpr[R_ESP] == STACK0 - 20 && s.eip == HANDLER && frame &&
		      !(s.eflags & EFLAGS_IF),
	      "r=%d cs=%#x ss=%#x esp=%#x eip=%#x frame=%d fl=%#x", r, s.seg[S_CS].sel,
	      s.seg[S_SS].sel, s.gpr[R_ESP], s.eip, frame, s.eflags);

	r = cpu_run(&cpu, 1);
	s = state();
	CHECK("cpu.iret.to_ring3", s.seg[S_CS].sel == 0x1b && s.seg[S_SS].sel == 0x23 &&
		      s.gpr[R_ESP] == STACK3 && s.eip == CODE + 2 && (s.eflags & EFLAGS_IF) &&
		      (s.eflags & EFLAGS_CF) && cpu.cpl == 3,
	      "cs=%#x ss=%#x esp=%#x eip=%#x fl=%#x cpl=%d", s.seg[S_CS].sel, s.seg[S_SS].sel,
	      s.gpr[R_ESP], s.eip, s.eflags, cpu.cpl);

	/* int 0x81 has a DPL-0 gate: #GP(vector*8+2) from ring 3. */
	machine(3);
	put_bytes(CODE, "cd 81");
	r = cpu_run(&cpu, 10);
	CHECK("cpu.idt.gate_dpl_gp", r == RUN_EXCEPTION && cpu.exc_vec == EXC_GP &&
		      cpu.exc_err == 0x81 * 8 + 2, "vec=%d err=%#x", cpu.exc_vec, cpu.exc_err);

	/* Exceptions with an error code push it: #GP from ring 0. */
	machine(0);
	put_bytes(CODE, "66 b8 40 00  8e d8");
	cpu.exc_return = false;
	r = cpu_run(&cpu, 10);
	s = state();
	CHECK("cpu.idt.error_code_pushed", r == EXIT_HLT && get32(s.gpr[R_ESP]) == 0x40 &&
		      get32(s.gpr[R_ESP] + 4) == CODE + 4 && get32(s.gpr[R_ESP] + 8) == 0x08,
	      "r=%d err=%#x eip=%#x", r, get32(s.gpr[R_ESP]), get32(s.gpr[R_ESP] + 4));
}

static void test_triple_fault(void)
{
	machine(0);
	put_bytes(CODE, "0f 0b"); /* ud2 */
	struct cpu_state s = state();
	s.idtr.limit = 0;
	cpu_set_state(&cpu, &s);
	cpu.exc_return = false;
	int r = cpu_run(&cpu, 100);
	CHECK("cpu.triple_fault_shutdown", r == EXIT_SHUTDOWN && cpu.eip == CODE,
	      "r=%d eip=%#x", r, cpu.eip);

	/* #DF is delivered when a #GP happens while delivering a #GP. */
	machine(0);
	put_bytes(CODE, "66 b8 40 00  8e d8");
	idt_gate(EXC_GP, HANDLER, 0x40, 0x8e); /* handler CS beyond the GDT */
	cpu.exc_return = false;
	r = cpu_run(&cpu, 100);
	s = state();
	CHECK("cpu.double_fault", r == EXIT_HLT && get32(s.gpr[R_ESP]) == 0,
	      "r=%d eip=%#x", r, s.eip);
}

/* PD[0]: 4 MiB user/writable identity page (code, tables, stacks).
 * PD[1] -> PT: 0x400000 supervisor read-only, 0x401000 user read-only,
 * 0x402000 user writable, 0x403000 not present.
 * PD[2]: 4 MiB page at 0x800000 -> physical 0x400000. */
static void paging_machine(int cpl, bool wp)
{
	machine(cpl);
	put32(PD + 0, 0x000000e7 & ~0x60u);
	put32(PD + 4, PT | 0x7);
	put32(PD + 8, 0x00400000u | 0x87);
	put32(PT + 0, 0x30000 | 0x1);
	put32(PT + 4, 0x31000 | 0x5);
	put32(PT + 8, 0x32000 | 0x7);
	struct cpu_state s = state();
	s.cr3 = PD;
	s.cr4 = CR4_PSE;
	s.cr0 = CR0_PE | CR0_PG | (wp ? CR0_WP : 0);
	cpu_set_state(&cpu, &s);
	cpu.exc_return = true;
}

static void pf_case(const char *name, int cpl, bool wp, const char *code, uint32_t want_err,
		    uint32_t want_cr2)
{
	paging_machine(cpl, wp);
	put_bytes(CODE, code);
	int r = cpu_run(&cpu, 10);
	CHECK(name, r == RUN_EXCEPTION && cpu.exc_vec == EXC_PF && cpu.exc_err == want_err &&
		      cpu.cr2 == want_cr2, "r=%d vec=%d err=%#x cr2=%#x", r, cpu.exc_vec,
	      cpu.exc_err, cpu.cr2);
}

static void test_paging(void)
{
	pf_case("cpu.pf.supervisor_write_ro_wp", 0, true, "c7 05 00 00 40 00 01 00 00 00", 3,
		0x400000);
	pf_case("cpu.pf.user_read_supervisor", 3, false, "a1 00 00 40 00", 5, 0x400000);
	pf_case("cpu.pf.user_write_ro", 3, false, "c7 05 00 10 40 00 01 00 00 00", 7, 0x401000);
	pf_case("cpu.pf.not_present_user", 3, false, "a1 00 30 40 00", 4, 0x403000);
	pf_case("cpu.pf.not_present_pde", 0, false, "a1 00 00 c0 00", 0, 0xc00000);

	paging_machine(0, false);
	put_bytes(CODE, "c7 05 00 00 40 00 01 00 00 00  f4");
	int r = cpu_run(&cpu, 10);
	CHECK("cpu.pf.supervisor_write_ro_without_wp", r == EXIT_HLT && get32(0x30000) == 1,
	      "r=%d vec=%d", r, cpu.exc_vec);

	paging_machine(0, true);
	put_bytes(CODE, "c7 05 00 20 40 00 05 00 00 00  a1 00 10 40 00  f4");
	r = cpu_run(&cpu, 10);
	CHECK("cpu.paging.accessed_dirty",
	      r == EXIT_HLT && (get32(PT + 8) & 0x60) == 0x60 && (get32(PT + 4) & 0x60) == 0x20 &&
		      (get32(PD + 4) & 0x20) && get32(0x32000) == 5,
	      "r=%d pte2=%#x pte1=%#x pde1=%#x", r, get32(PT + 8), get32(PT + 4), get32(PD + 4));

	paging_machine(0, true);
	put_bytes(CODE, "c7 05 10 00 80 00 78 56 34 12  f4");
	r = cpu_run(&cpu, 10);
	CHECK("cpu.paging.4mib_page", r == EXIT_HLT && get32(0x400010) == 0x12345678 &&
		      (get32(PD + 8) & 0x60) == 0x60, "r=%d pde=%#x", r, get32(PD + 8));

	/* CR3 far outside RAM: the walk reads the (absent) MMIO bus as all
	 * ones, ends up outside RAM again, and the engine stops with an
	 * error instead of touching host memory. */
	machine(0);
	struct cpu_state s = state();
	s.cr3 = 0xf0000000u;
	s.cr0 |= CR0_PG;
	cpu_set_state(&cpu, &s);
	cpu.exc_return = false;
	r = cpu_run(&cpu, 10);
	CHECK("cpu.paging.tables_outside_ram", r == EXIT_ERROR || r == EXIT_SHUTDOWN,
	      "r=%d", r);
}

/* An access that crosses into a not-present page: CR2 is the first byte
 * of that page, for every kind of access (issue 8, finding 6). */
static void test_pf_cross(void)
{
	static const struct {
		const char *name, *code;
		uint32_t esp, esi, edi, ecx, err;
	} cases[] = {
		{ "cpu.pf_cross.write32", "c7 05 fe 2f 40 00 01 00 00 00", STACK0, 0, 0, 0, 2 },
		{ "cpu.pf_cross.write16", "66 c7 05 ff 2f 40 00 01 00", STACK0, 0, 0, 0, 2 },
		{ "cpu.pf_cross.read32", "a1 fd 2f 40 00", STACK0, 0, 0, 0, 0 },
		{ "cpu.pf_cross.rmw_reports_write", "83 05 fe 2f 40 00 01", STACK0, 0, 0, 0, 2 },
		{ "cpu.pf_cross.push", "50", 0x403002, 0, 0, 0, 2 },
		{ "cpu.pf_cross.call", "e8 00 00 00 00", 0x403001, 0, 0, 0, 2 },
		{ "cpu.pf_cross.movsd", "f3 a5", STACK0, 0x402000, 0x402ffd, 1, 2 },
		{ "cpu.pf_cross.stosw", "66 ab", STACK0, 0, 0x402fff, 0, 2 },
		{ "cpu.pf_cross.lodsd", "ad", STACK0, 0x402ffe, 0, 0, 0 },
		{ "cpu.pf_cross.cmpxchg8b", "0f c7 0d fc 2f 40 00", STACK0, 0, 0, 0, 2 },
		{ "cpu.pf_cross.sgdt", "0f 01 05 fc 2f 40 00", STACK0, 0, 0, 0, 2 },
	};
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		paging_machine(0, true);
		put_bytes(CODE, cases[k].code);
		struct cpu_state s = state();
		s.gpr[R_ESP] = cases[k].esp;
		s.gpr[R_ESI] = cases[k].esi;
		s.gpr[R_EDI] = cases[k].edi;
		s.gpr[R_ECX] = cases[k].ecx;
		cpu_set_state(&cpu, &s);
		cpu.exc_return = true;
		int r = cpu_run(&cpu, 10);
		CHECK(cases[k].name, r == RUN_EXCEPTION && cpu.exc_vec == EXC_PF &&
			      cpu.exc_err == cases[k].err && cpu.cr2 == 0x403000 && cpu.eip == CODE,
		      "r=%d vec=%d err=%#x cr2=%#x eip=%#x", r, cpu.exc_vec, cpu.exc_err, cpu.cr2,
		      cpu.eip);
	}
	/* An instruction whose second byte is on the missing page. */
	paging_machine(0, true);
	put_bytes(CODE, "b8 ff 2f 40 00  ff e0"); /* mov eax, 0x402fff; jmp eax */
	put_bytes(0x32fff, "89");		  /* 0x402fff: mov eax, eax (89 c0) */
	int r = cpu_run(&cpu, 10);
	CHECK("cpu.pf_cross.fetch", r == RUN_EXCEPTION && cpu.exc_vec == EXC_PF && cpu.exc_err == 0 &&
		      cpu.cr2 == 0x403000 && cpu.eip == 0x402fff,
	      "r=%d vec=%d err=%#x cr2=%#x eip=%#x", r, cpu.exc_vec, cpu.exc_err, cpu.cr2, cpu.eip);
}

/* Single-step: runs code with TF set until the #DB handler (its own hlt at
 * HANDLER + 0x10) or another handler halts; returns the EIP the first
 * event pushed, and whether #DB was it. */
static uint32_t step_run(const char *code, uint32_t eax, bool *was_db)
{
	machine(0);
	idt_gate(EXC_DB, HANDLER + 0x10, 0x08, 0x8e);
	put_bytes(HANDLER + 0x10, "f4");
	put_bytes(CODE, code);
	struct cpu_state s = state();
	s.eflags |= EFLAGS_TF;
	s.gpr[R_EAX] = eax;
	cpu_set_state(&cpu, &s);
	cpu.exc_return = false;
	int r = cpu_run(&cpu, 20);
	*was_db = r == EXIT_HLT && cpu.eip == HANDLER + 0x11;
	return get32(cpu.r.r32[R_ESP]);
}

static void test_single_step(void)
{
	bool db;
	uint32_t at = step_run("90 90 f4", 0, &db);
	CHECK("cpu.tf.trap_after_each_insn", db && at == CODE + 1 && (cpu.dr[6] & 0x4000) &&
		      !(cpu.eflags & EFLAGS_TF), "db=%d eip=%#x dr6=%#x", db, at, cpu.dr[6]);
	/* STI's shadow holds back interrupts, not the single-step trap (the
	 * SDM's VM-entry checks require a pending BS after STI with TF=1). */
	at = step_run("fb 90 f4", 0, &db);
	CHECK("cpu.tf.sti_not_inhibited", db && at == CODE + 1, "db=%d eip=%#x", db, at);
	at = step_run("8e d0 90 f4", 0x10, &db); /* mov ss, ax; nop */
	CHECK("cpu.tf.mov_ss_inhibits_one", db && at == CODE + 3, "db=%d eip=%#x", db, at);
	at = step_run("cd 40 90 f4", 0, &db); /* int 0x40: its handler runs, no #DB */
	CHECK("cpu.tf.int_n_no_trap", !db && cpu.eip == HANDLER + 1 && at == CODE + 2 &&
		      !(cpu.eflags & EFLAGS_TF), "db=%d eip=%#x pushed %#x", db, cpu.eip, at);
	machine(0);
	idt_gate(EXC_DB, HANDLER + 0x10, 0x08, 0x8e);
	put_bytes(HANDLER + 0x10, "f4");
	put_bytes(CODE, "f3 aa f4"); /* rep stosb, ecx 3: a trap after each iteration */
	struct cpu_state s = state();
	s.eflags |= EFLAGS_TF;
	s.gpr[R_ECX] = 3;
	s.gpr[R_EDI] = 0x40000;
	cpu_set_state(&cpu, &s);
	cpu.exc_return = false;
	int r = cpu_run(&cpu, 20);
	at = get32(cpu.r.r32[R_ESP]);
	CHECK("cpu.tf.rep_traps_each_iteration", r == EXIT_HLT && cpu.eip == HANDLER + 0x11 &&
		      at == CODE && cpu.r.r32[R_ECX] == 2 && cpu.r.r32[R_EDI] == 0x40001,
	      "r=%d eip=%#x pushed %#x ecx=%u", r, cpu.eip, at, cpu.r.r32[R_ECX]);
	at = step_run("0f 0b", 0, &db); /* ud2 faults: #UD, not #DB */
	CHECK("cpu.tf.fault_no_trap", !db && cpu.eip == HANDLER + 1 && at == CODE, "db=%d at=%#x",
	      db, at);
}

/* Runs code at CPL 0 (ending in hlt) with eax/ecx/edx preset; returns
 * cpu_run's result (RUN_EXCEPTION with cpu.exc_vec for a fault). */
static int run0(const char *model, const char *code, uint32_t eax, uint32_t ecx, uint32_t edx)
{
	machine(0);
	if (model)
		cpu_set_model(&cpu, model);
	put_bytes(CODE, code);
	cpu.r.r32[R_EAX] = eax;
	cpu.r.r32[R_ECX] = ecx;
	cpu.r.r32[R_EDX] = edx;
	return cpu_run(&cpu, 20);
}

static bool regs_spell(const uint32_t *r, const char *want)
{
	return !memcmp(r, want, 4);
}

static void test_cpu_model(void)
{
	uint32_t o[4];
	machine(0);
	cpuid_query(&cpu, 0, 0, o);
	char vendor[13] = { 0 };
	memcpy(vendor, &o[1], 4), memcpy(vendor + 4, &o[3], 4), memcpy(vendor + 8, &o[2], 4);
	CHECK("cpu.model.default_vendor", !strcmp(vendor, "GenuineIntel") && o[0] == 1,
	      "vendor %s max %u", vendor, o[0]);
	cpuid_query(&cpu, 1, 0, o);
	uint32_t want = CPUID_PSE | CPUID_TSC | CPUID_MSR | CPUID_CX8 | CPUID_SEP | CPUID_PGE |
			CPUID_CMOV | (CPU_HAS_X87 ? CPUID_FPU : 0);
	CHECK("cpu.model.leaf1", o[0] == 0x652 && o[3] == want && o[2] == CPUID_ECX_HYPERVISOR,
	      "eax %#x ecx %#x edx %#x (want edx %#x)", o[0], o[2], o[3], want);
	CHECK("cpu.model.no_unimplemented_features",
	      !(o[3] & (CPUID_APIC | CPUID_PAE | CPUID_MMX | CPUID_FXSR | CPUID_SSE | CPUID_MTRR |
			CPUID_VME | CPUID_DE | CPUID_MCE | CPUID_MCA)),
	      "edx %#x", o[3]);
	uint32_t l1[4];
	memcpy(l1, o, sizeof l1);
	cpuid_query(&cpu, 7, 0, o);
	CHECK("cpu.model.past_max_leaf_is_leaf1", !memcmp(o, l1, sizeof o), "eax %#x", o[0]);
	cpuid_query(&cpu, 0x40000000u, 0, o);
	/* ringvm's leaves end at 0x40000001 (the PV ABI's version leaf). */
	CHECK("cpu.model.hypervisor_leaf", o[0] == 0x40000001u && regs_spell(&o[1], "Ring") &&
		      regs_spell(&o[2], "VMRi") && regs_spell(&o[3], "ngVM"),
	      "eax %#x", o[0]);
	/* KVM's leaves one block of 0x100 up, where Linux looks for them. */
	cpuid_query(&cpu, 0x40000100u, 0, o);
	CHECK("cpu.model.kvm_leaf", o[0] >= 0x40000101u && regs_spell(&o[1], "KVMK") &&
		      regs_spell(&o[2], "VMKV") && regs_spell(&o[3], "M\0\0\0"),
	      "eax %#x", o[0]);
	cpuid_query(&cpu, 0x80000000u, 0, o);
	CHECK("cpu.model.no_extended_leaves_on_p6", (o[0] & 0xffff0000u) != 0x80000000u,
	      "eax %#x", o[0]);

	CHECK("cpu.model.unknown_name", cpu_set_model(&cpu, "pentium9") < 0, "accepted");
	cpu_set_model(&cpu, "athlon");
	cpuid_query(&cpu, 0, 0, o);
	CHECK("cpu.model.athlon_vendor", regs_spell(&o[1], "Auth") && regs_spell(&o[3], "enti") &&
		      regs_spell(&o[2], "cAMD"), "ebx %#x", o[1]);
	char brand[49] = { 0 };
	for (uint32_t k = 0; k < 3; k++) {
		cpuid_query(&cpu, 0x80000002u + k, 0, o);
		memcpy(brand + 16 * k, o, 16);
	}
	cpuid_query(&cpu, 0x80000000u, 0, o);
	uint32_t e1[4];
	cpuid_query(&cpu, 0x80000001u, 0, e1);
	CHECK("cpu.model.athlon_no_syscall", !(e1[3] & CPUID_EXT_SYSCALL) &&
		      (e1[3] & CPUID_CMOV), "0x80000001 edx %#x", e1[3]);
	CHECK("cpu.model.athlon_brand", o[0] == 0x80000004u &&
		      !strcmp(brand, "AMD Athlon(tm) Processor"), "max %#x brand '%s'", o[0], brand);
}

static void test_msrs(void)
{
	int r = run0(NULL, "0f 32 f4", 0, 0x1b, 0); /* rdmsr APIC_BASE: no APIC */
	CHECK("cpu.msr.apic_base_gp", r == RUN_EXCEPTION && cpu.exc_vec == EXC_GP, "r=%d", r);
	r = run0(NULL, "0f 32 f4", 0, 0xc0000080u, 0); /* EFER: no long mode, no NX */
	CHECK("cpu.msr.efer_gp", r == RUN_EXCEPTION && cpu.exc_vec == EXC_GP, "r=%d", r);
	r = run0(NULL, "0f 32 f4", 0, 0xfe, 0); /* MTRRcap: mtrr not reported */
	CHECK("cpu.msr.mtrrcap_gp", r == RUN_EXCEPTION && cpu.exc_vec == EXC_GP, "r=%d", r);
	r = run0(NULL, "0f 30 0f 31 f4", 0, 0x10, 0x1234); /* wrmsr TSC; rdtsc */
	CHECK("cpu.msr.tsc_write", r == EXIT_HLT && cpu.r.r32[R_EDX] == 0x1234, "r=%d edx=%#x", r,
	      cpu.r.r32[R_EDX]);
	r = run0(NULL, "0f 30 31 c0 0f 32 f4", 0x9000, 0x175, 0); /* SYSENTER_ESP round trip */
	CHECK("cpu.msr.sysenter_esp", r == EXIT_HLT && cpu.r.r32[R_EAX] == 0x9000, "r=%d eax=%#x",
	      r, cpu.r.r32[R_EAX]);
	r = run0(NULL, "0f 32 f4", 0, 0x1a0, 0);
	CHECK("cpu.msr.misc_enable_fast_strings", r == EXIT_HLT && cpu.r.r32[R_EAX] == 1,
	      "r=%d eax=%#x", r, cpu.r.r32[R_EAX]);
	r = run0(NULL, "0f 30 0f 32 f4", 0, 0x8b, 0); /* BIOS_SIGN_ID: write 0, read it back */
	CHECK("cpu.msr.bios_sign_id", r == EXIT_HLT && cpu.r.r32[R_EDX] == 0, "r=%d", r);
	r = run0("athlon", "0f 32 f4", 0, 0x1a0, 0);
	CHECK("cpu.msr.misc_enable_intel_only", r == RUN_EXCEPTION && cpu.exc_vec == EXC_GP,
	      "r=%d", r);
	r = run0("pentiumpro", "0f 32 f4", 0, 0x174, 0);
	CHECK("cpu.msr.no_sep_no_sysenter_msrs", r == RUN_EXCEPTION && cpu.exc_vec == EXC_GP,
	      "r=%d", r);
	r = run0("pentiumpro", "0f 34", 0, 0, 0);
	CHECK("cpu.model.no_sep_sysenter_ud", r == RUN_EXCEPTION && cpu.exc_vec == EXC_UD,
	      "r=%d vec=%d", r, cpu.exc_vec);
}

/* TZCNT and LZCNT on a CPU without BMI1/LZCNT are REP BSF / REP BSR: a
 * zero source leaves the destination alone and sets ZF (TZCNT would give
 * the operand size and CF). */
static void test_tzcnt_as_bsf(void)
{
	int r = run0(NULL, "f3 0f bc c1 f4", 0x1234, 0, 0); /* tzcnt eax, ecx */
	CHECK("cpu.tzcnt_is_bsf.zero", r == EXIT_HLT && cpu.r.r32[R_EAX] == 0x1234 &&
		      (flags_get(&cpu) & EFLAGS_ZF), "r=%d eax=%#x", r, cpu.r.r32[R_EAX]);
	r = run0(NULL, "f3 0f bc c1 f4", 0, 0x80, 0);
	CHECK("cpu.tzcnt_is_bsf.bit7", r == EXIT_HLT && cpu.r.r32[R_EAX] == 7, "eax=%#x",
	      cpu.r.r32[R_EAX]);
	r = run0(NULL, "f3 0f bd c1 f4", 0, 1, 0); /* lzcnt eax, ecx: BSR gives 0, LZCNT 31 */
	CHECK("cpu.lzcnt_is_bsr", r == EXIT_HLT && cpu.r.r32[R_EAX] == 0, "eax=%#x",
	      cpu.r.r32[R_EAX]);
	r = run0(NULL, "3e 3e 3e 3e 3e 3e 3e 3e 3e 3e 3e 3e 3e 3e 01 c0", 0, 0, 0);
	CHECK("cpu.insn_over_15_bytes_gp", r == RUN_EXCEPTION && cpu.exc_vec == EXC_GP &&
		      cpu.exc_err == 0, "r=%d vec=%d", r, cpu.exc_vec);
}

/* The jump cache must not outlive a mapping: the same EIP, called again
 * after its page was remapped (INVLPG, or a CR3 reload), runs the new
 * page's code. */
static void test_jump_cache_remap(void)
{
	for (int how = 0; how < 2; how++) {
		paging_machine(0, true);
		put_bytes(0x32000, "b8 01 00 00 00 c3"); /* mov eax, 1; ret */
		put_bytes(0x33000, "b8 02 00 00 00 c3"); /* mov eax, 2; ret */
		uint32_t at = CODE;
		char code[160];
		uint32_t rel1 = 0x402000u - (at + 5);
		/* call 0x402000; mov ebx, eax; mov [PT+8], 0x33007 */
		snprintf(code, sizeof code, "e8 %02x %02x %02x %02x  89 c3  c7 05 %02x %02x %02x %02x 07 30 03 00",
			 rel1 & 0xff, rel1 >> 8 & 0xff, rel1 >> 16 & 0xff, rel1 >> 24,
			 (PT + 8) & 0xff, (PT + 8) >> 8 & 0xff, (PT + 8) >> 16 & 0xff, (PT + 8) >> 24);
		put_bytes(at, code);
		at += 5 + 2 + 10;
		if (how == 0)
			put_bytes(at, "0f 01 3d 00 20 40 00"), at += 7; /* invlpg [0x402000] */
		else
			put_bytes(at, "0f 20 d8 0f 22 d8"), at += 6;     /* mov eax, cr3; mov cr3, eax */
		uint32_t rel2 = 0x402000u - (at + 5);
		snprintf(code, sizeof code, "e8 %02x %02x %02x %02x f4", rel2 & 0xff, rel2 >> 8 & 0xff,
			 rel2 >> 16 & 0xff, rel2 >> 24);
		put_bytes(at, code);
		int r = cpu_run(&cpu, 50);
		CHECK(how ? "cpu.jump_cache.cr3_reload" : "cpu.jump_cache.invlpg",
		      r == EXIT_HLT && cpu.r.r32[R_EBX] == 1 && cpu.r.r32[R_EAX] == 2,
		      "r=%d vec=%d ebx=%u eax=%u", r, cpu.exc_vec, cpu.r.r32[R_EBX], cpu.r.r32[R_EAX]);
	}
}

static void test_smc(void)
{
	machine(0);
	/* mov byte [CODE+0xb], 0x41 ; mov eax, 0 ; hlt -- the store patches
	 * the top byte of the next instruction's immediate in the same block. */
	put_bytes(CODE, "c6 05 0b 00 01 00 41  b8 00 00 00 00  f4");
	int r = cpu_run(&cpu, 10);
	CHECK("cpu.smc.same_block", r == EXIT_HLT && cpu.r.r32[R_EAX] == 0x41000000u,
	      "r=%d eax=%#x", r, cpu.r.r32[R_EAX]);

	/* Run the patched code again: the cached block must have been dropped. */
	cpu.eip = CODE + 7;
	cpu.halted = false;
	put_bytes(CODE + 7, "b8 00 00 00 00 f4");
	cpu.r.r32[R_EAX] = 1;
	/* Patch from guest code on another page, then jump back. */
	put_bytes(CODE + 0x2000, "c6 05 08 00 01 00 07  e9 fb df ff ff");
	cpu.eip = CODE + 0x2000;
	r = cpu_run(&cpu, 10);
	CHECK("cpu.smc.cached_block_invalidated", r == EXIT_HLT && cpu.r.r32[R_EAX] == 7,
	      "r=%d eax=%#x", r, cpu.r.r32[R_EAX]);
}

static void test_unimplemented(void)
{
	static struct vm vm;
	static struct vcpu vcpu;
	memset(&vm, 0, sizeof vm);
	vcpu.vm = &vm;
	machine(0);
	cpu.vcpu = &vcpu;
	put_bytes(CODE, "0f 58 c1"); /* addps: SSE is not implemented (x87 is) */
	int r = cpu_run(&cpu, 10);
	bool counted = vm.stats.n_named == 1 &&
		       strcmp(vm.stats.named[0].name, "unimplemented: addps") == 0;
	CHECK("cpu.unimplemented_ud_counted", r == RUN_EXCEPTION && cpu.exc_vec == EXC_UD &&
		      cpu.eip == CODE && counted, "r=%d vec=%d named=%s", r, cpu.exc_vec,
	      vm.stats.n_named ? vm.stats.named[0].name : "-");
	cpu.vcpu = NULL;
}

static void test_strings(void)
{
	machine(0);
	for (int k = 0; k < 100; k++)
		ram[0x40000 + k] = (uint8_t)(k + 1);
	/* cld; rep movsb; mov edi,0x50000; mov ecx,8; mov eax,0xabcdabcd;
	 * rep stosd; mov edi,0x40000; mov ecx,100; mov al,50; repne scasb; hlt */
	put_bytes(CODE, "fc  f3 a4  bf 00 00 05 00  b9 08 00 00 00  b8 cd ab cd ab  f3 ab"
			"  bf 00 00 04 00  b9 64 00 00 00  b0 32  f2 ae  f4");
	cpu.r.r32[R_ESI] = 0x40000;
	cpu.r.r32[R_EDI] = 0x48000;
	cpu.r.r32[R_ECX] = 100;
	int r = cpu_run(&cpu, 100);
	CHECK("cpu.string.rep_movsb", memcmp(ram + 0x40000, ram + 0x48000, 100) == 0 &&
		      cpu.r.r32[R_ESI] == 0x40064, "r=%d esi=%#x", r, cpu.r.r32[R_ESI]);
	CHECK("cpu.string.rep_stosd", get32(0x50000) == 0xabcdabcdu &&
		      get32(0x5001c) == 0xabcdabcdu && get32(0x50020) == 0, "%#x", get32(0x5001c));
	CHECK("cpu.string.repne_scasb", r == EXIT_HLT && cpu.r.r32[R_EDI] == 0x40032 &&
		      cpu.r.r32[R_ECX] == 50 && (flags_get(&cpu) & EFLAGS_ZF),
	      "edi=%#x ecx=%u", cpu.r.r32[R_EDI], cpu.r.r32[R_ECX]);
}

static void test_divide(void)
{
	machine(0);
	put_bytes(CODE, "31 c9  f7 f1"); /* xor ecx,ecx; div ecx */
	int r = cpu_run(&cpu, 10);
	CHECK("cpu.div_by_zero_de", r == RUN_EXCEPTION && cpu.exc_vec == EXC_DE &&
		      cpu.eip == CODE + 2, "r=%d vec=%d eip=%#x", r, cpu.exc_vec, cpu.eip);

	machine(0);
	/* mov eax,0x80000000; cdq; mov ecx,-1; idiv ecx */
	put_bytes(CODE, "b8 00 00 00 80  99  b9 ff ff ff ff  f7 f9");
	r = cpu_run(&cpu, 10);
	CHECK("cpu.idiv_overflow_de", r == RUN_EXCEPTION && cpu.exc_vec == EXC_DE,
	      "r=%d vec=%d", r, cpu.exc_vec);
}

static void test_flags(void)
{
	machine(0);
	/* mov eax,-1; cmp eax,-1 (83 f8 ff); setz bl; add eax,1; setc bh; hlt */
	put_bytes(CODE, "b8 ff ff ff ff  83 f8 ff  0f 94 c3  83 c0 01  0f 92 c7  f4");
	int r = cpu_run(&cpu, 10);
	CHECK("cpu.flags.cmp_imm8_sign_extended", r == EXIT_HLT && cpu.r.r8[12] == 1 &&
		      cpu.r.r8[13] == 1 && (flags_get(&cpu) & EFLAGS_ZF),
	      "bl=%d bh=%d", cpu.r.r8[12], cpu.r.r8[13]);
}

/*
 * The register-specialised handlers (exec_reg.c) against the generic fast
 * forms they copy, which the differential test checks against the host
 * CPU: every register (and base register, with and without an index) of
 * every specialised form, random values and flags, one instruction run
 * both ways from the same state; registers, EIP, all flags, the data page
 * and the exception (if any) must agree.
 */
#define RF_DATA 0x40000u
static uint32_t rf_seed = 2024;
static uint32_t rf_rand(void)
{
	rf_seed = rf_seed * 1103515245u + 12345u;
	return (rf_seed >> 16) * 0x9e3779b9u ^ rf_seed;
}

struct rf_case {
	uint8_t code[16];
	unsigned len;
	uint32_t gpr[8], eflags;
	uint8_t data[0x1000];
};

struct rf_out {
	uint32_t gpr[8], eip, eflags;
	int r, vec;
	uint8_t data[0x1000];
};

static void rf_byte(struct rf_case *k, uint32_t v)
{
	k->code[k->len++] = (uint8_t)v;
}

static void rf_dword(struct rf_case *k, uint32_t v)
{
	for (int n = 0; n < 4; n++)
		rf_byte(k, v >> (8 * n));
}

static void rf_init(struct rf_case *k)
{
	memset(k, 0, sizeof *k);
	for (int r = 0; r < 8; r++)
		k->gpr[r] = rf_rand();
	k->gpr[R_ESP] = RF_DATA + 0x800 + (rf_rand() & 0x3fc);
	k->eflags = 0x2 | (rf_rand() & (EFLAGS_ARITH & ~EFLAGS_AF));
	for (unsigned n = 0; n < sizeof k->data; n++)
		k->data[n] = (uint8_t)rf_rand();
}

/* A memory operand with reg field r, base b (8: none) and, if x, an index
 * (never ESP) scaled by 4, addressing somewhere in the data page. */
static void rf_mem(struct rf_case *k, unsigned r, unsigned b, bool x)
{
	uint32_t target = RF_DATA + 0x100 + (rf_rand() & 0x3ff);
	unsigned ix = rf_rand() % 7;
	ix += ix >= R_ESP; /* not ESP */
	uint32_t small = rf_rand() & 0x3f;
	if (b == 8) {
		if (!x) {
			rf_byte(k, (r << 3) | 5);
			rf_dword(k, target);
			return;
		}
		rf_byte(k, (r << 3) | 4);
		rf_byte(k, 2u << 6 | ix << 3 | 5);
		k->gpr[ix] = small;
		rf_dword(k, target - small * 4);
		return;
	}
	int8_t d8 = (int8_t)((rf_rand() & 0x3f) - 0x20);
	rf_byte(k, 0x40 | r << 3 | (x || b == R_ESP ? 4 : b));
	if (x)
		rf_byte(k, 2u << 6 | ix << 3 | b);
	else if (b == R_ESP)
		rf_byte(k, 4u << 3 | b);
	rf_byte(k, (uint8_t)d8);
	if (!x)
		k->gpr[b] = target - (uint32_t)d8;
	else if (ix == b)
		k->gpr[b] = (target - (uint32_t)d8) / 5;
	else {
		k->gpr[ix] = small;
		k->gpr[b] = target - (uint32_t)d8 - small * 4;
	}
}

static unsigned rf_budget = 1;

static void rf_run(const struct rf_case *k, bool special, struct rf_out *o)
{
	reg_forms_on = special;
	decode_flush_all(&cpu); /* decode again, the chosen way */
	memcpy(ram + CODE, k->code, k->len);
	ram[CODE + k->len] = 0xf4; /* hlt */
	memcpy(ram + RF_DATA, k->data, sizeof k->data);
	memcpy(cpu.r.r32, k->gpr, sizeof k->gpr);
	cpu.eip = CODE;
	cpu.eflags = k->eflags;
	cpu.lf_op = LF_NONE;
	cpu.exc_vec = -1;
	cpu.halted = false; /* the last case may have ended at its HLT */
	o->r = cpu_run(&cpu, rf_budget);
	o->vec = o->r == RUN_EXCEPTION ? cpu.exc_vec : -1;
	memcpy(o->gpr, cpu.r.r32, sizeof o->gpr);
	o->eip = cpu.eip;
	o->eflags = flags_get(&cpu);
	memcpy(o->data, ram + RF_DATA, sizeof o->data);
	reg_forms_on = true;
}

static unsigned rf_cases, rf_bad;
static char rf_what[400];

static void rf_check(const struct rf_case *k, const char *form)
{
	static struct rf_out a, b;
	rf_run(k, true, &a);
	rf_run(k, false, &b);
	rf_cases++;
	/* Flags an instruction leaves undefined are computed by the same code
	 * both ways, so all of them must agree. */
	if (memcmp(&a, &b, sizeof a) != 0 && rf_bad++ == 0) {
		int n = snprintf(rf_what, sizeof rf_what, "%s:", form);
		for (unsigned j = 0; j < k->len && n < (int)sizeof rf_what - 4; j++)
			n += snprintf(rf_what + n, sizeof rf_what - n, " %02x", k->code[j]);
		n += snprintf(rf_what + n, sizeof rf_what - n, " (budget %u; r %d/%d eip %#x/%#x",
			      rf_budget, a.r, b.r, a.eip, b.eip);
		for (unsigned g = 0; g < 8 && n < (int)sizeof rf_what - 24; g++)
			if (a.gpr[g] != b.gpr[g])
				n += snprintf(rf_what + n, sizeof rf_what - n, " r%u %#x/%#x", g,
					      a.gpr[g], b.gpr[g]);
		snprintf(rf_what + n, sizeof rf_what - n, " fl %#x/%#x)", a.eflags, b.eflags);
	}
}

static void test_reg_forms(void)
{
	static struct rf_case k;
	machine(0);
	static const uint8_t alu_rr[9] = { 0x01, 0x09, 0x11, 0x19, 0x21, 0x29, 0x31, 0x39, 0x85 };
	static const uint8_t alu_rm[8] = { 0x03, 0x0b, 0x13, 0x1b, 0x23, 0x2b, 0x33, 0x3b };
	for (unsigned d = 0; d < 8; d++) {
		for (unsigned s = 0; s < 8; s++) {
			rf_init(&k); rf_byte(&k, 0x89); rf_byte(&k, 0xc0 | s << 3 | d);
			rf_check(&k, "mov r,r");
			for (unsigned op = 0; op < 9; op++) {
				rf_init(&k); rf_byte(&k, alu_rr[op]); rf_byte(&k, 0xc0 | s << 3 | d);
				rf_check(&k, "alu r,r");
			}
			rf_init(&k); rf_byte(&k, 0x0f); rf_byte(&k, 0xaf); rf_byte(&k, 0xc0 | d << 3 | s);
			rf_check(&k, "imul r,r");
			rf_init(&k); rf_byte(&k, 0x0f); rf_byte(&k, 0xb6 | (s & 1)); rf_byte(&k, 0xc0 | d << 3 | s);
			rf_check(&k, "movzx r32,r8/r16");
			for (unsigned cc = 0; cc < 16; cc++) {
				rf_init(&k); rf_byte(&k, 0x0f); rf_byte(&k, 0x40 | cc); rf_byte(&k, 0xc0 | d << 3 | s);
				rf_check(&k, "cmovcc r,r");
			}
		}
		for (unsigned op = 0; op < 8; op++) {
			rf_init(&k); rf_byte(&k, 0x81); rf_byte(&k, 0xc0 | op << 3 | d); rf_dword(&k, rf_rand());
			rf_check(&k, "alu r,imm32");
		}
		rf_init(&k); rf_byte(&k, 0xf7); rf_byte(&k, 0xc0 | d); rf_dword(&k, rf_rand());
		rf_check(&k, "test r,imm32");
		rf_init(&k); rf_byte(&k, 0xb8 + d); rf_dword(&k, rf_rand());
		rf_check(&k, "mov r,imm32");
		for (unsigned sh = 4; sh < 8; sh++) {
			rf_init(&k); rf_byte(&k, 0xc1); rf_byte(&k, 0xc0 | sh << 3 | d); rf_byte(&k, 1 + rf_rand() % 31);
			rf_check(&k, "shift r,imm8");
		}
		rf_init(&k); rf_byte(&k, 0x40 + d); rf_check(&k, "inc r");
		rf_init(&k); rf_byte(&k, 0x48 + d); rf_check(&k, "dec r");
		rf_init(&k); rf_byte(&k, 0x50 + d); rf_check(&k, "push r");
		rf_init(&k); rf_byte(&k, 0x58 + d); rf_check(&k, "pop r");
		for (unsigned b = 0; b < 9; b++)
			for (unsigned x = 0; x < 2; x++) {
				static const uint8_t mem_ops[][3] = {
					{ 1, 0x8b }, { 1, 0x89 }, { 1, 0x8d }, { 2, 0x0f, 0xb6 }, { 2, 0x0f, 0xb7 },
					{ 1, 0x8a }, { 1, 0x88 },
				};
				for (unsigned m = 0; m < sizeof mem_ops / sizeof mem_ops[0]; m++) {
					rf_init(&k);
					for (unsigned j = 1; j <= mem_ops[m][0]; j++)
						rf_byte(&k, mem_ops[m][j]);
					rf_mem(&k, d, b, x);
					rf_check(&k, "mov/lea/movzx with memory");
				}
				rf_init(&k); rf_byte(&k, 0x66); rf_byte(&k, 0x8b); rf_mem(&k, d, b, x);
				rf_check(&k, "mov r16,m16");
				rf_init(&k); rf_byte(&k, 0x66); rf_byte(&k, 0x89); rf_mem(&k, d, b, x);
				rf_check(&k, "mov m16,r16");
			}
		for (unsigned op = 0; op < 8; op++) {
			unsigned b = rf_rand() % 9, x = rf_rand() & 1;
			rf_init(&k); rf_byte(&k, alu_rm[op]); rf_mem(&k, d, b, x);
			rf_check(&k, "alu r,m");
			rf_init(&k); rf_byte(&k, alu_rm[op] - 2); rf_mem(&k, d, b, x);
			rf_check(&k, "alu m,r");
		}
		rf_init(&k); rf_byte(&k, 0x85); rf_mem(&k, d, rf_rand() % 9, rf_rand() & 1);
		rf_check(&k, "test m,r");
		for (unsigned cc = 0; cc < 16; cc++) {
			rf_init(&k); rf_byte(&k, 0x0f); rf_byte(&k, 0x40 | cc); rf_mem(&k, d, rf_rand() % 9, rf_rand() & 1);
			rf_check(&k, "cmovcc r,m");
			rf_init(&k); rf_byte(&k, 0x0f); rf_byte(&k, 0x90 | cc); rf_byte(&k, 0xc0 | d);
			rf_check(&k, "setcc r8");
		}
	}
	/* CMP/TEST + Jcc, fused into one handler: the pair, a local jump,
	 * and the budget stopping between the two or at the target. */
	for (unsigned cc = 0; cc < 16; cc++)
		for (unsigned form = 0; form < 4; form++)
			for (unsigned budget = 1; budget <= 4; budget++) {
				rf_budget = budget == 4 ? 100 : budget;
				rf_init(&k);
				unsigned d = rf_rand() % 8, s2 = rf_rand() % 8;
				if (rf_rand() & 1)
					k.gpr[s2] = k.gpr[d] + (rf_rand() % 3) - 1; /* near-equal */
				if (form < 2) {
					rf_byte(&k, form ? 0x85 : 0x39);
					rf_byte(&k, 0xc0 | s2 << 3 | d);
				} else {
					rf_byte(&k, 0x81);
					rf_byte(&k, 0xc0 | (form == 3 ? 0 : 7) << 3 | d);
					rf_dword(&k, rf_rand() & 1 ? k.gpr[d] : rf_rand());
				}
				if (form == 3) /* test r,imm32 is f7 /0 */
					k.code[0] = 0xf7;
				rf_byte(&k, 0x70 | cc); rf_byte(&k, 2); /* jcc +2 */
				rf_byte(&k, 0x43); rf_byte(&k, 0x42); /* inc ebx; inc edx */
				rf_byte(&k, 0x41); /* inc ecx */
				rf_check(&k, "cmp/test + jcc");
			}
	rf_budget = 1;
	/* A memory operand off the end of RAM: both ways fault alike. */
	rf_init(&k); rf_byte(&k, 0x8b); rf_byte(&k, 0x80); rf_dword(&k, 0);
	k.gpr[R_EAX] = RAM_SIZE + 0x1000;
	rf_check(&k, "mov r,m past RAM");
	CHECK("cpu.reg_forms_match_generic", rf_bad == 0 && rf_cases > 3000,
	      "%u of %u cases differ, first: %s", rf_bad, rf_cases, rf_what);
}

/* A taken Jcc to a later instruction of its own block runs on there
 * (exec_fast.c): same registers, EIP and instruction count as a jump that
 * ends the block, and the budget still stops it exactly. */
static void test_local_jumps(void)
{
	/* xor eax,eax; jz +2; inc ebx; inc edx; inc ecx; hlt */
	static const char code[] = "31 c0  74 02  43  42  41  f4";
	machine(0);
	put_bytes(CODE, code);
	uint64_t n0 = cpu.insns;
	int r = cpu_run(&cpu, 100);
	CHECK("cpu.local_jump.skips", r == EXIT_HLT && cpu.r.r32[R_ECX] == 1 &&
		      cpu.r.r32[R_EBX] == 0 && cpu.r.r32[R_EDX] == 0 && cpu.eip == CODE + 8 &&
		      cpu.insns - n0 == 4,
	      "r=%d ebx=%u ecx=%u edx=%u eip=%#x insns=%llu", r, cpu.r.r32[R_EBX],
	      cpu.r.r32[R_ECX], cpu.r.r32[R_EDX], cpu.eip, (unsigned long long)(cpu.insns - n0));

	machine(0);
	put_bytes(CODE, code);
	n0 = cpu.insns;
	r = cpu_run(&cpu, 2); /* xor, jz: stops at the target */
	bool at_target = r == EXIT_NONE && cpu.eip == CODE + 6 && cpu.r.r32[R_ECX] == 0 &&
			 cpu.insns - n0 == 2;
	uint32_t eip2 = cpu.eip;
	r = cpu_run(&cpu, 1); /* inc ecx */
	CHECK("cpu.local_jump.budget", at_target && r == EXIT_NONE && cpu.eip == CODE + 7 &&
		      cpu.r.r32[R_ECX] == 1 && cpu.insns - n0 == 3,
	      "eip after 2: %#x; r=%d eip=%#x ecx=%u insns=%llu", eip2, r, cpu.eip,
	      cpu.r.r32[R_ECX], (unsigned long long)(cpu.insns - n0));

	/* An if-else: JMP no longer ends decoding, so both arms are one block.
	 * xor eax,eax / or eax,1; jnz else; inc ecx; jmp end; else: inc edx;
	 * end: hlt */
	for (int arm = 0; arm < 2; arm++) {
		machine(0);
		put_bytes(CODE, arm ? "83 c8 01  75 03  41  eb 01  42  f4" : "31 c0 90  75 03  41  eb 01  42  f4");
		n0 = cpu.insns;
		r = cpu_run(&cpu, 100);
		bool ok = r == EXIT_HLT && cpu.eip == CODE + 10 &&
			  cpu.r.r32[R_ECX] == (arm ? 0u : 1u) && cpu.r.r32[R_EDX] == (arm ? 1u : 0u) &&
			  cpu.insns - n0 == (arm ? 4u : 6u);
		CHECK(arm ? "cpu.local_jump.else_arm" : "cpu.local_jump.then_arm_jmp", ok,
		      "r=%d eip=%#x ecx=%u edx=%u insns=%llu", r, cpu.eip, cpu.r.r32[R_ECX],
		      cpu.r.r32[R_EDX], (unsigned long long)(cpu.insns - n0));
	}
	/* What follows a JMP is decoded but not run: jmp +2; ud2; inc ecx; hlt */
	machine(0);
	put_bytes(CODE, "eb 02  0f 0b  41  f4");
	r = cpu_run(&cpu, 100);
	CHECK("cpu.local_jump.jmp_over_ud2", r == EXIT_HLT && cpu.r.r32[R_ECX] == 1,
	      "r=%d vec=%d ecx=%u", r, cpu.exc_vec, cpu.r.r32[R_ECX]);

	/* A backward Jcc ends the block: xor ecx,ecx; L: inc ecx; cmp ecx,3;
	 * jnz L; hlt */
	machine(0);
	put_bytes(CODE, "31 c9  41  83 f9 03  75 fa  f4");
	n0 = cpu.insns;
	r = cpu_run(&cpu, 100);
	CHECK("cpu.local_jump.loop", r == EXIT_HLT && cpu.r.r32[R_ECX] == 3 &&
		      cpu.insns - n0 == 1 + 3 * 3 + 1,
	      "r=%d ecx=%u insns=%llu", r, cpu.r.r32[R_ECX], (unsigned long long)(cpu.insns - n0));
}

/* The Jcc/SETcc/CMOVcc handlers' shortcut (cond_fast) against cond_eval,
 * and cf_get against the materialised CF, over every lazy operation, size
 * and condition, with edge-biased operands recorded as the instructions
 * record them. */
static void test_cond_fast(void)
{
	static const uint32_t edge[] = { 0, 1, 2, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff,
					 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff };
	static struct cpu cc_cpu;
	struct cpu *c = &cc_cpu;
	unsigned checked = 0, bad = 0, decided = 0;
	uint32_t seed = 12345;
	char what[120] = "";
	for (unsigned n = 0; n < 20000; n++) {
		uint32_t a, b;
		seed = seed * 1103515245u + 12345u;
		a = (seed >> 8 & 1) ? edge[(seed >> 9) % 13] : seed * 2654435761u;
		seed = seed * 1103515245u + 12345u;
		b = (seed >> 8 & 1) ? edge[(seed >> 9) % 13] : seed * 2246822519u;
		unsigned size = 1u << (n % 3), op = LF_ADD + (n / 3) % (LF_CO - LF_ADD + 1);
		uint32_t mask = size == 4 ? 0xffffffffu : (1u << (size * 8)) - 1;
		a &= mask;
		b &= mask;
		uint32_t res;
		switch (op) {
		case LF_ADD: res = a + b; break;
		case LF_SUB: res = a - b; break;
		case LF_ADC: res = a + b + (seed >> 20 & 1); break; /* with a carry in */
		case LF_SBB: res = a - b - (seed >> 20 & 1); break;
		case LF_LOGIC: res = a ^ b; a = b = 0; break;
		case LF_INC: res = (a + 1) & mask; b &= 1; break;
		case LF_DEC: res = (a - 1) & mask; b &= 1; break;
		default: res = a; a &= 3; b = 0; break; /* LF_CO */
		}
		flags_lazy(c, op, size, res, a, b);
		c->eflags = EFLAGS_FIXED;
		/* ADC, SBB, INC and DEC read CF through cf_get. */
		if (cf_get(c) != ((flags_get(c) & EFLAGS_CF) != 0) && bad++ == 0)
			snprintf(what, sizeof what, "cf_get: op %u size %u a %#x b %#x res %#x", op,
				 size, a, b, res);
		for (unsigned cc = 0; cc < 16; cc++) {
			int fast = cond_fast(c, cc);
			checked++;
			if (fast < 0)
				continue;
			decided++;
			if ((bool)fast != cond_eval(c, cc) && bad++ == 0)
				snprintf(what, sizeof what, "op %u size %u a %#x b %#x res %#x cc %u: %d",
					 op, size, a, b, res, cc, fast);
		}
	}
	/* Every lazy operation is decided without materialising the flags. */
	CHECK("cpu.cond_fast_matches_cond_eval", bad == 0 && decided == checked,
	      "%u of %u wrong (%u decided), first: %s", bad, checked, decided, what);
}

int main(void)
{
	ram = aligned_alloc(4096, RAM_SIZE);
	test_cond_fast();
	test_local_jumps();
	test_reg_forms();
	test_segments();
	test_idt_privilege();
	test_triple_fault();
	test_paging();
	test_pf_cross();
	test_single_step();
	test_cpu_model();
	test_msrs();
	test_tzcnt_as_bsf();
	test_jump_cache_remap();
	test_smc();
	test_unimplemented();
	test_strings();
	test_divide();
	test_flags();
	cpu_fini(&cpu);
	free(ram);
	CHECK_DONE();
}
