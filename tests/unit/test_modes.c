/*
 * Unit tests of the CPU core's modes beyond flat protected mode: real
 * mode (segment arithmetic, limits, A20, the IVT for INT n and
 * exceptions, IRET, switching to protected mode and back), virtual-8086
 * mode (entry by IRET, the IOPL-sensitive instructions, interrupt frames
 * with the segment registers, the TSS I/O bitmap, also for ring 3 in
 * protected mode), hardware task switches (JMP, CALL, IRET with NT, task
 * gates from INT n and from an exception with its error code, busy bits,
 * back link, CR3), call gates (ring 3 to ring 0 with parameters, far RET
 * back, DPL and present checks, JMP through a gate), and RDTSCP's #UD.
 * Guest code is hand-assembled (GNU as output) into a small RAM buffer.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "check.h"
#include "cpu/cpu.h"

#define RAM_SIZE (2u << 20) /* past 1 MiB for the A20 check */
#define GDT 0x1000u
#define IDT 0x2000u
#define TSS 0x3000u /* + I/O bitmap up to 0x5068 */
#define TSS2 0x6000u
#define STACK0 0x8000u
#define STACK3 0x9000u
#define STACK2 0xa000u
#define CODE 0x10000u
#define HANDLER 0x11000u
#define CODE2 0x12000u
#define HANDLER2 0x13000u
#define PD 0x20000u
#define PD2 0x21000u

#define RUN_EXCEPTION (-2) /* cpu_run's result when exc_return is set */

static uint8_t *ram;
static struct cpu cpu;

static void put32(uint32_t a, uint32_t v)
{
	memcpy(ram + a, &v, 4);
}

static void put16(uint32_t a, uint16_t v)
{
	memcpy(ram + a, &v, 2);
}

static uint32_t get32(uint32_t a)
{
	uint32_t v;
	memcpy(&v, ram + a, 4);
	return v;
}

static uint16_t get16(uint32_t a)
{
	uint16_t v;
	memcpy(&v, ram + a, 2);
	return v;
}

static void put_bytes(uint32_t a, const char *hex)
{
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

static void gate_entry(uint32_t at, uint32_t off, uint16_t sel, uint8_t access, uint8_t params)
{
	put32(at, (off & 0xffff) | ((uint32_t)sel << 16));
	put32(at + 4, (off & 0xffff0000u) | ((uint32_t)access << 8) | params);
}

static uint8_t gdt_access(uint16_t sel)
{
	return ram[GDT + (sel & ~7u) + 5];
}

static struct seg flat(uint16_t sel, uint8_t type, int dpl)
{
	struct seg s = { .sel = sel, .base = 0, .limit = 0xffffffffu, .type = type, .s = 1,
			 .dpl = (uint8_t)dpl, .present = 1, .db = 1, .g = 1 };
	return s;
}

static struct seg rseg(uint16_t sel)
{
	struct seg s = { .sel = sel, .base = (uint32_t)sel << 4, .limit = 0xffff, .type = 3, .s = 1,
			 .present = 1 };
	return s;
}

static struct cpu_state state(void)
{
	struct cpu_state s;
	cpu_get_state(&cpu, &s);
	return s;
}

static void fresh_cpu(void)
{
	cpu_fini(&cpu);
	cpu_init(&cpu, ram, RAM_SIZE, NULL);
}

/* Real mode at 1000:0000, SS:SP = 0000:7000, the IVT at 0. */
static void real_machine(void)
{
	memset(ram, 0, RAM_SIZE);
	fresh_cpu();
	struct cpu_state s = state();
	s.cr0 = CR0_ET;
	for (int k = 0; k < SREG_COUNT; k++)
		s.seg[k] = rseg(0);
	s.seg[S_CS] = rseg(0x1000);
	s.idtr.base = 0;
	s.idtr.limit = 0x3ff;
	s.gdtr.base = GDT;
	s.gdtr.limit = 0x7f;
	s.eip = 0;
	s.gpr[R_ESP] = 0x7000;
	s.eflags = 0x2;
	cpu_set_state(&cpu, &s);
	cpu.exc_return = true;
}

/* Protected mode: GDT null, code0 0x08, data0 0x10, code3 0x1b, data3
 * 0x23, TSS 0x28 (busy, current), entries up to 0x78 free for the tests;
 * IDT of ring-0 interrupt gates to HANDLER (0x80 callable from ring 3). */
static void pm_machine(int cpl)
{
	memset(ram, 0, RAM_SIZE);
	gdt_entry(1, 0, 0xfffff, 0x9a, 0xc);
	gdt_entry(2, 0, 0xfffff, 0x92, 0xc);
	gdt_entry(3, 0, 0xfffff, 0xfa, 0xc);
	gdt_entry(4, 0, 0xfffff, 0xf2, 0xc);
	gdt_entry(5, TSS, 0x67, 0x8b, 0);
	for (int v = 0; v < 256; v++)
		gate_entry(IDT + v * 8, HANDLER, 0x08, v == 0x80 ? 0xee : 0x8e, 0);
	put32(TSS + 4, STACK0);
	put32(TSS + 8, 0x10);
	put16(TSS + 0x66, 0x68); /* I/O map base: past the limit until a test extends it */
	put_bytes(HANDLER, "f4");
	fresh_cpu();
	struct cpu_state s = state();
	uint16_t cs = cpl ? 0x1b : 0x08, ds = cpl ? 0x23 : 0x10;
	s.seg[S_CS] = flat(cs, 0xb, cpl);
	for (int k = 0; k < SREG_COUNT; k++)
		if (k != S_CS)
			s.seg[k] = flat(ds, 0x3, cpl);
	s.gdtr.base = GDT;
	s.gdtr.limit = 0x7f;
	s.idtr.base = IDT;
	s.idtr.limit = 256 * 8 - 1;
	s.tr = (struct seg){ .sel = 0x28, .base = TSS, .limit = 0x67, .type = 0xb, .present = 1 };
	s.eip = CODE;
	s.gpr[R_ESP] = cpl ? STACK3 : STACK0;
	s.eflags = 0x2;
	cpu_set_state(&cpu, &s);
	cpu.exc_return = true;
}

static void test_real_mode(void)
{
	real_machine();
	put_bytes(CODE, "b8 00 20  8e d8  c7 06 10 00 cd ab  f4"); /* ds=0x2000; [0x10]=0xabcd */
	int r = cpu_run(&cpu, 100);
	CHECK("modes.real.segment_base", r == EXIT_HLT && get16(0x20010) == 0xabcd &&
		      cpu.seg[S_DS].base == 0x20000 && cpu.code16 && cpu.cpl == 0,
	      "r=%d word=%#x ds.base=%#x code16=%d", r, get16(0x20010), cpu.seg[S_DS].base,
	      cpu.code16);

	/* DS was nulled in protected mode: a real-mode load makes it a 64 KiB
	 * segment again. */
	real_machine();
	struct cpu_state ns = state();
	memset(&ns.seg[S_DS], 0, sizeof ns.seg[S_DS]);
	ns.seg[S_DS].unusable = 1;
	cpu_set_state(&cpu, &ns);
	put_bytes(CODE, "b8 00 20  8e d8  c7 06 10 00 cd ab  f4");
	r = cpu_run(&cpu, 100);
	CHECK("modes.real.load_after_null", r == EXIT_HLT && get16(0x20010) == 0xabcd &&
		      cpu.seg[S_DS].limit == 0xffff,
	      "r=%d word=%#x ds.limit=%#x", r, get16(0x20010), cpu.seg[S_DS].limit);

	real_machine();
	put_bytes(CODE, "a1 ff ff"); /* a word at offset 0xffff crosses the 64 KiB limit */
	r = cpu_run(&cpu, 100);
	CHECK("modes.real.limit_gp", r == RUN_EXCEPTION && cpu.exc_vec == EXC_GP && cpu.eip == 0,
	      "r=%d vec=%d eip=%#x", r, cpu.exc_vec, cpu.eip);

	real_machine();
	put_bytes(CODE, "b8 ff ff  8e d8  a1 10 00  f4"); /* FFFF:0010 */
	put16(0x100000, 0x1a20);
	put16(0x000000, 0x0bad);
	r = cpu_run(&cpu, 100);
	CHECK("modes.real.a20_no_wrap", r == EXIT_HLT && cpu.r.r16[R_EAX * 2] == 0x1a20,
	      "r=%d ax=%#x (0x0bad: wrapped at 1 MiB)", r, cpu.r.r16[R_EAX * 2]);

	/* INT n through the IVT: FLAGS, CS, IP pushed (16-bit), IF cleared. */
	real_machine();
	put_bytes(CODE, "fb  cd 21  f4"); /* sti; int 0x21; hlt */
	put16(0x21 * 4, 0x0100);
	put16(0x21 * 4 + 2, 0x2000);
	put_bytes(0x20100, "f4");
	cpu.exc_return = false;
	r = cpu_run(&cpu, 100);
	struct cpu_state s = state();
	CHECK("modes.real.int_through_ivt",
	      r == EXIT_HLT && s.seg[S_CS].sel == 0x2000 && s.seg[S_CS].base == 0x20000 &&
		      s.eip == 0x101 && s.gpr[R_ESP] == 0x7000 - 6 && get16(0x7000 - 6) == 3 &&
		      get16(0x7000 - 4) == 0x1000 && (get16(0x7000 - 2) & EFLAGS_IF) &&
		      !(s.eflags & EFLAGS_IF),
	      "r=%d cs=%#x eip=%#x sp=%#x frame %#x %#x %#x fl=%#x", r, s.seg[S_CS].sel, s.eip,
	      s.gpr[R_ESP], get16(0x7000 - 6), get16(0x7000 - 4), get16(0x7000 - 2), s.eflags);

	real_machine(); /* now the handler returns */
	put_bytes(CODE, "fb  cd 21  f4");
	put16(0x21 * 4, 0x0100);
	put16(0x21 * 4 + 2, 0x2000);
	put_bytes(0x20100, "cf");
	cpu.exc_return = false;
	r = cpu_run(&cpu, 100);
	s = state();
	CHECK("modes.real.iret", r == EXIT_HLT && s.seg[S_CS].sel == 0x1000 && s.eip == 4 &&
		      s.gpr[R_ESP] == 0x7000 && (s.eflags & EFLAGS_IF),
	      "r=%d cs=%#x eip=%#x sp=%#x fl=%#x", r, s.seg[S_CS].sel, s.eip, s.gpr[R_ESP],
	      s.eflags);

	/* An exception through the IVT: no error code, IP of the faulting DIV. */
	real_machine();
	put_bytes(CODE, "30 c9  f6 f1"); /* xor cl,cl; div cl */
	put16(0, 0x0200);
	put16(2, 0x2000);
	put_bytes(0x20200, "f4");
	cpu.exc_return = false;
	r = cpu_run(&cpu, 100);
	s = state();
	CHECK("modes.real.exception_through_ivt",
	      r == EXIT_HLT && s.seg[S_CS].sel == 0x2000 && s.eip == 0x201 &&
		      s.gpr[R_ESP] == 0x7000 - 6 && get16(0x7000 - 6) == 2,
	      "r=%d cs=%#x eip=%#x sp=%#x pushed ip=%#x", r, s.seg[S_CS].sel, s.eip, s.gpr[R_ESP],
	      get16(0x7000 - 6));
}

/* Real mode -> protected mode (LGDT, CR0.PE, far JMP to a 32-bit CS) ->
 * 16-bit protected mode -> real mode (PE off, far JMP to a paragraph). */
static void test_real_protected_round_trip(void)
{
	real_machine();
	gdt_entry(1, 0, 0xfffff, 0x9a, 0xc);
	gdt_entry(2, 0, 0xfffff, 0x92, 0xc);
	gdt_entry(3, 0x10000, 0xffff, 0x9a, 0x0); /* 16-bit code at 0x10000 */
	put_bytes(CODE, "2e 66 0f 01 16 00 01  0f 20 c0  0c 01  0f 22 c0  66 ea 40 00 01 00 08 00");
	put16(CODE + 0x100, 0x7f);
	put32(CODE + 0x102, GDT);
	put_bytes(CODE + 0x40, "66 b8 10 00  8e d8  bb 78 56 34 12  f4  ea 60 00 00 00 18 00");
	put_bytes(CODE + 0x60, "0f 20 c0  24 fe  0f 22 c0  ea 80 00 00 10");
	put_bytes(CODE + 0x80, "8c c8  8e d8  bb 21 43  f4");
	int r = cpu_run(&cpu, 100);
	CHECK("modes.real.to_protected",
	      r == EXIT_HLT && (cpu.cr0 & CR0_PE) && cpu.seg[S_CS].sel == 0x08 && !cpu.code16 &&
		      cpu.r.r32[R_EBX] == 0x12345678 && cpu.seg[S_DS].limit == 0xffffffffu,
	      "r=%d cr0=%#x cs=%#x code16=%d ebx=%#x", r, cpu.cr0, cpu.seg[S_CS].sel, cpu.code16,
	      cpu.r.r32[R_EBX]);
	cpu.halted = false;
	r = cpu_run(&cpu, 100);
	CHECK("modes.real.back_to_real",
	      r == EXIT_HLT && !(cpu.cr0 & CR0_PE) && cpu.seg[S_CS].sel == 0x1000 &&
		      cpu.seg[S_CS].base == 0x10000 && cpu.code16 && cpu.r.r16[R_EBX * 2] == 0x4321 &&
		      cpu.seg[S_DS].base == 0x10000 && cpu.cpl == 0,
	      "r=%d cr0=%#x cs=%#x/%#x code16=%d bx=%#x ds.base=%#x", r, cpu.cr0,
	      cpu.seg[S_CS].sel, cpu.seg[S_CS].base, cpu.code16, cpu.r.r16[R_EBX * 2],
	      cpu.seg[S_DS].base);
}

/* Ring 0 about to IRET into v8086 at 2000:0000 with the given IOPL; DS =
 * 0x5000, ES 0x4000, FS 0x6000, GS 0x7000, SS:SP 3000:0ff0. */
static void v86_machine(unsigned iopl, const char *code)
{
	pm_machine(0);
	uint32_t f = STACK0 - 36;
	const uint32_t frame[9] = { 0,	    0x2000, EFLAGS_VM | (iopl << 12) | 0x2, 0x0ff0, 0x3000,
				    0x4000, 0x5000, 0x6000,			    0x7000 };
	for (int k = 0; k < 9; k++)
		put32(f + 4u * (uint32_t)k, frame[k]);
	cpu.r.r32[R_ESP] = f;
	put_bytes(CODE, "cf");
	put_bytes(0x20000, code);
}

static void test_v86(void)
{
	v86_machine(0, "a1 00 00  f4"); /* mov ax,[0]; hlt */
	put16(0x50000, 0x5151);
	int r = cpu_run(&cpu, 1);
	struct cpu_state s = state();
	CHECK("modes.v86.enter_by_iret",
	      r == EXIT_NONE && (s.eflags & EFLAGS_VM) && cpu.cpl == 3 && cpu.code16 &&
		      s.seg[S_CS].base == 0x20000 && s.seg[S_DS].base == 0x50000 &&
		      s.seg[S_GS].base == 0x70000 && s.seg[S_SS].limit == 0xffff &&
		      s.gpr[R_ESP] == 0x0ff0 && s.eip == 0,
	      "r=%d fl=%#x cpl=%d cs.base=%#x ds.base=%#x esp=%#x", r, s.eflags, cpu.cpl,
	      s.seg[S_CS].base, s.seg[S_DS].base, s.gpr[R_ESP]);

	cpu.exc_return = false;
	r = cpu_run(&cpu, 10); /* the read, then HLT: #GP to the ring-0 handler */
	s = state();
	bool frame = get32(STACK0 - 4) == 0x7000 && get32(STACK0 - 8) == 0x6000 &&
		     get32(STACK0 - 12) == 0x5000 && get32(STACK0 - 16) == 0x4000 &&
		     get32(STACK0 - 20) == 0x3000 && get32(STACK0 - 24) == 0x0ff0 &&
		     (get32(STACK0 - 28) & EFLAGS_VM) && get32(STACK0 - 32) == 0x2000 &&
		     get32(STACK0 - 36) == 3 && get32(STACK0 - 40) == 0;
	CHECK("modes.v86.fault_frame_to_ring0",
	      r == EXIT_HLT && s.eip == HANDLER + 1 && cpu.cpl == 0 && !(s.eflags & EFLAGS_VM) &&
		      s.gpr[R_ESP] == STACK0 - 40 && frame && s.seg[S_DS].unusable &&
		      s.seg[S_ES].unusable && s.seg[S_FS].unusable && s.seg[S_GS].unusable &&
		      (s.gpr[R_EAX] & 0xffff) == 0x5151,
	      "r=%d eip=%#x cpl=%d fl=%#x esp=%#x frame=%d ax=%#x", r, s.eip, cpu.cpl, s.eflags,
	      s.gpr[R_ESP], frame, s.gpr[R_EAX]);

	/* IOPL-sensitive at IOPL 0: #GP(0), nothing executed. */
	static const struct {
		const char *name, *code;
	} sens[] = { { "cli", "fa" }, { "sti", "fb" }, { "pushf", "9c" },
		     { "popf", "9d" }, { "int", "cd 21" }, { "iret", "cf" } };
	int bad = 0;
	char which[64] = "";
	for (size_t k = 0; k < sizeof sens / sizeof sens[0]; k++) {
		v86_machine(0, sens[k].code);
		r = cpu_run(&cpu, 2);
		if (!(r == RUN_EXCEPTION && cpu.exc_vec == EXC_GP && cpu.exc_err == 0 && cpu.eip == 0)) {
			bad++;
			strncat(which, sens[k].name, sizeof which - strlen(which) - 2);
			strcat(which, " ");
		}
	}
	CHECK("modes.v86.iopl_sensitive_gp", bad == 0, "no #GP(0) at IOPL 0 for: %s", which);

	v86_machine(3, "fa  9c  f4"); /* cli; pushf; hlt */
	r = cpu_run(&cpu, 3);
	s = state();
	CHECK("modes.v86.iopl3_runs_them", r == EXIT_NONE && !(s.eflags & EFLAGS_IF) &&
		      s.gpr[R_ESP] == 0x0fee && (get16(0x30fee) & EFLAGS_IOPL) == EFLAGS_IOPL &&
		      (s.eflags & EFLAGS_VM),
	      "r=%d fl=%#x sp=%#x pushed=%#x", r, s.eflags, s.gpr[R_ESP], get16(0x30fee));

	/* INT3 is not IOPL-sensitive: through the IDT (a DPL-3 gate) to ring 0. */
	v86_machine(0, "cc");
	gate_entry(IDT + 3 * 8, HANDLER, 0x08, 0xee, 0);
	cpu.exc_return = false;
	r = cpu_run(&cpu, 10);
	s = state();
	CHECK("modes.v86.int3_to_idt", r == EXIT_HLT && s.eip == HANDLER + 1 && cpu.cpl == 0 &&
		      s.gpr[R_ESP] == STACK0 - 36 && get32(STACK0 - 36) == 1,
	      "r=%d eip=%#x esp=%#x pushed eip=%#x", r, s.eip, s.gpr[R_ESP], get32(STACK0 - 36));

	/* No model reports VME: CR4.VME cannot be set (mov cr4, eax). */
	pm_machine(0);
	cpu.r.r32[R_EAX] = CR4_VME;
	put_bytes(CODE, "0f 22 e0");
	r = cpu_run(&cpu, 1);
	CHECK("modes.v86.no_vme", r == RUN_EXCEPTION && cpu.exc_vec == EXC_GP && cpu.cr4 == 0,
	      "r=%d vec=%d cr4=%#x", r, cpu.exc_vec, cpu.cr4);

	v86_machine(3, "0f 02 c3");
	r = cpu_run(&cpu, 2);
	bool lar_ud = r == RUN_EXCEPTION && cpu.exc_vec == EXC_UD;
	v86_machine(3, "63 c3");
	r = cpu_run(&cpu, 2);
	CHECK("modes.v86.pmode_only_ud", lar_ud && r == RUN_EXCEPTION && cpu.exc_vec == EXC_UD,
	      "lar #UD %d, arpl r=%d vec=%d", lar_ud, r, cpu.exc_vec);
}

/* The TSS I/O bitmap allows port 0x60 only. */
static void allow_port_60(void)
{
	gdt_entry(5, TSS, 0x68 + 8192, 0x8b, 0);
	cpu.tr.limit = 0x68 + 8192;
	memset(ram + TSS + 0x68, 0xff, 8193);
	ram[TSS + 0x68 + 0x60 / 8] &= (uint8_t)~(1u << (0x60 % 8));
}

static int port_fault(const char *code, bool v86, unsigned iopl, bool bitmap)
{
	if (v86) {
		v86_machine(iopl, code);
	} else {
		pm_machine(3);
		put_bytes(CODE, code);
		cpu.eflags |= iopl << 12;
	}
	if (bitmap)
		allow_port_60();
	int r = cpu_run(&cpu, v86 ? 2 : 1);
	return r == RUN_EXCEPTION ? cpu.exc_vec : -1;
}

static void test_io_bitmap(void)
{
	int ok60 = port_fault("e4 60", true, 0, true), no61 = port_fault("e4 61", true, 0, true);
	int pair = port_fault("e5 60", true, 0, true), iopl3 = port_fault("e4 61", true, 3, true);
	CHECK("modes.iobitmap.v86", ok60 == -1 && no61 == EXC_GP && pair == EXC_GP && iopl3 == EXC_GP,
	      "in 0x60 %d (want -1), in 0x61 %d, in ax 0x60 %d, 0x61 at IOPL 3 %d (want 13 13 13)",
	      ok60, no61, pair, iopl3);
	ok60 = port_fault("e4 60", false, 0, true);
	no61 = port_fault("e4 61", false, 0, true);
	int out = port_fault("e6 61", false, 0, true);
	iopl3 = port_fault("e4 61", false, 3, true);
	int nomap = port_fault("e4 60", false, 0, false);
	CHECK("modes.iobitmap.ring3",
	      ok60 == -1 && no61 == EXC_GP && out == EXC_GP && iopl3 == -1 && nomap == EXC_GP,
	      "in 0x60 %d (want -1), in 0x61 %d, out 0x61 %d (want 13), IOPL 3 %d (want -1), "
	      "no bitmap %d (want 13)",
	      ok60, no61, out, iopl3, nomap);
}

/* TSS2 (selector 0x38): ring-0 task at CODE2 on STACK2, EAX 0x5555. */
static void task_machine(void)
{
	pm_machine(0);
	gdt_entry(7, TSS2, 0x67, 0x89, 0);
	gate_entry(GDT + 8 * 8, 0, 0x38, 0x85, 0); /* 0x40: task gate to 0x38 */
	put32(TSS2 + 0x20, CODE2);
	put32(TSS2 + 0x24, 0x2);
	put32(TSS2 + 0x28, 0x5555);
	put32(TSS2 + 0x38, STACK2);
	put32(TSS2 + 0x48, 0x10);
	put32(TSS2 + 0x4c, 0x08);
	for (uint32_t k = 2; k < 6; k++)
		put32(TSS2 + 0x48 + 4 * k, 0x10);
}

static void test_tasks(void)
{
	task_machine();
	put_bytes(CODE, "ea 00 00 00 00 38 00");
	put_bytes(CODE2, "f4");
	int r = cpu_run(&cpu, 10);
	CHECK("modes.task.jmp",
	      r == EXIT_HLT && cpu.tr.sel == 0x38 && cpu.eip == CODE2 + 1 &&
		      cpu.r.r32[R_EAX] == 0x5555 && cpu.r.r32[R_ESP] == STACK2 &&
		      get32(TSS + 0x20) == CODE + 7 && gdt_access(0x28) == 0x89 &&
		      gdt_access(0x38) == 0x8b && !(cpu.eflags & EFLAGS_NT) && get32(TSS2) == 0 &&
		      (cpu.cr0 & CR0_TS),
	      "r=%d tr=%#x eip=%#x eax=%#x saved eip=%#x access old %#x new %#x fl=%#x link=%#x",
	      r, cpu.tr.sel, cpu.eip, cpu.r.r32[R_EAX], get32(TSS + 0x20), gdt_access(0x28),
	      gdt_access(0x38), cpu.eflags, get32(TSS2));

	task_machine();
	put_bytes(CODE, "b8 11 00 00 00  9a 00 00 00 00 38 00  f4");
	put_bytes(CODE2, "b8 22 00 00 00  cf"); /* mov eax,0x22; iret */
	r = cpu_run(&cpu, 3);
	bool inside = cpu.tr.sel == 0x38 && (cpu.eflags & EFLAGS_NT) && get32(TSS2) == 0x28 &&
		      gdt_access(0x28) == 0x8b && gdt_access(0x38) == 0x8b;
	r = cpu_run(&cpu, 10);
	CHECK("modes.task.call_then_iret_nt",
	      inside && r == EXIT_HLT && cpu.tr.sel == 0x28 && cpu.r.r32[R_EAX] == 0x11 &&
		      cpu.eip == CODE + 13 && get32(TSS2 + 0x28) == 0x22 &&
		      !(get32(TSS2 + 0x24) & EFLAGS_NT) && gdt_access(0x38) == 0x89 &&
		      gdt_access(0x28) == 0x8b && !(cpu.eflags & EFLAGS_NT),
	      "inside ok %d, r=%d tr=%#x eax=%#x eip=%#x task2 eax %#x fl %#x access %#x/%#x", inside,
	      r, cpu.tr.sel, cpu.r.r32[R_EAX], cpu.eip, get32(TSS2 + 0x28), get32(TSS2 + 0x24),
	      gdt_access(0x28), gdt_access(0x38));

	task_machine();
	gate_entry(IDT + 0x41 * 8, 0, 0x38, 0x85, 0);
	put_bytes(CODE, "cd 41  f4");
	put_bytes(CODE2, "cf");
	r = cpu_run(&cpu, 10);
	CHECK("modes.task.int_through_task_gate",
	      r == EXIT_HLT && cpu.tr.sel == 0x28 && cpu.eip == CODE + 3 && get32(TSS2) == 0x28 &&
		      get32(TSS2 + 0x20) == CODE2 + 1,
	      "r=%d tr=%#x eip=%#x link=%#x task2 eip=%#x", r, cpu.tr.sel, cpu.eip, get32(TSS2),
	      get32(TSS2 + 0x20));

	task_machine();
	gate_entry(IDT + EXC_GP * 8, 0, 0x38, 0x85, 0);
	put_bytes(CODE, "66 b8 48 00  8e d8"); /* mov ds, 0x48 (a null descriptor): #GP(0x48) */
	put_bytes(CODE2, "f4");
	cpu.exc_return = false;
	r = cpu_run(&cpu, 10);
	CHECK("modes.task.exception_error_code",
	      r == EXIT_HLT && cpu.tr.sel == 0x38 && cpu.r.r32[R_ESP] == STACK2 - 4 &&
		      get32(STACK2 - 4) == 0x48 && get32(TSS + 0x20) == CODE + 4,
	      "r=%d tr=%#x esp=%#x err=%#x saved eip=%#x", r, cpu.tr.sel, cpu.r.r32[R_ESP],
	      get32(STACK2 - 4), get32(TSS + 0x20));

	task_machine();
	put_bytes(CODE, "ea 00 00 00 00 28 00"); /* JMP to the busy current TSS */
	r = cpu_run(&cpu, 10);
	bool busy_gp = r == RUN_EXCEPTION && cpu.exc_vec == EXC_GP && cpu.exc_err == 0x28;
	task_machine();
	gdt_entry(9, TSS2, 0x2b, 0x81, 0); /* a 16-bit TSS */
	put_bytes(CODE, "ea 00 00 00 00 48 00");
	r = cpu_run(&cpu, 10);
	CHECK("modes.task.busy_and_16bit_gp",
	      busy_gp && r == RUN_EXCEPTION && cpu.exc_vec == EXC_GP && cpu.exc_err == 0x48 &&
		      cpu.tr.sel == 0x28,
	      "busy #GP %d; 16-bit TSS r=%d vec=%d err=%#x", busy_gp, r, cpu.exc_vec, cpu.exc_err);

	/* A TSS whose EFLAGS has VM: the new task runs in v8086. */
	task_machine();
	put32(TSS2 + 0x24, EFLAGS_VM | 0x2);
	put32(TSS2 + 0x20, 0x10);
	put32(TSS2 + 0x38, 0x0ff0);
	static const uint16_t vseg[SREG_COUNT] = { 0x4000, 0x2000, 0x3000, 0x5000, 0x6000, 0x7000 };
	for (int k = 0; k < SREG_COUNT; k++)
		put32(TSS2 + 0x48 + 4u * (uint32_t)k, vseg[k]);
	put_bytes(CODE, "ea 00 00 00 00 38 00");
	r = cpu_run(&cpu, 1);
	CHECK("modes.task.into_v86",
	      r == EXIT_NONE && (cpu.eflags & EFLAGS_VM) && cpu.cpl == 3 && cpu.code16 &&
		      cpu.seg[S_CS].base == 0x20000 && cpu.seg[S_SS].base == 0x30000 &&
		      cpu.seg[S_DS].limit == 0xffff && cpu.eip == 0x10 && cpu.tr.sel == 0x38,
	      "r=%d fl=%#x cpl=%d cs.base=%#x ss.base=%#x eip=%#x", r, cpu.eflags, cpu.cpl,
	      cpu.seg[S_CS].base, cpu.seg[S_SS].base, cpu.eip);

	/* CR3 comes from the new TSS when paging is on (4 MiB identity pages). */
	task_machine();
	put32(PD, 0x83);
	put32(PD2, 0x83);
	put32(TSS2 + 0x1c, PD2);
	put_bytes(CODE, "ea 00 00 00 00 40 00"); /* through the GDT task gate */
	put_bytes(CODE2, "f4");
	struct cpu_state s = state();
	s.cr3 = PD;
	s.cr4 |= CR4_PSE;
	s.cr0 |= CR0_PG;
	cpu_set_state(&cpu, &s);
	r = cpu_run(&cpu, 10);
	CHECK("modes.task.cr3_switch", r == EXIT_HLT && cpu.cr3 == PD2 && cpu.tr.sel == 0x38,
	      "r=%d cr3=%#x tr=%#x", r, cpu.cr3, cpu.tr.sel);
}

/* A call gate at 0x38 to 0x08:HANDLER2 with two parameters. */
static void gate_machine(int cpl, uint8_t access)
{
	pm_machine(cpl);
	gate_entry(GDT + 0x38, HANDLER2, 0x08, access, 2);
}

static void test_call_gates(void)
{
	gate_machine(3, 0xec);
	put_bytes(CODE, "68 11 11 00 00  68 22 22 00 00  9a 00 00 00 00 3b 00  f4");
	put_bytes(HANDLER2, "ca 08 00"); /* retf 8 */
	int r = cpu_run(&cpu, 3);
	struct cpu_state s = state();
	bool frame = get32(STACK0 - 4) == 0x23 && get32(STACK0 - 8) == STACK3 - 8 &&
		     get32(STACK0 - 12) == 0x1111 && get32(STACK0 - 16) == 0x2222 &&
		     get32(STACK0 - 20) == 0x1b && get32(STACK0 - 24) == CODE + 17;
	CHECK("modes.gate.call_ring3_to_ring0",
	      r == EXIT_NONE && cpu.cpl == 0 && s.seg[S_CS].sel == 0x08 && s.seg[S_SS].sel == 0x10 &&
		      s.eip == HANDLER2 && s.gpr[R_ESP] == STACK0 - 24 && frame,
	      "r=%d cpl=%d cs=%#x ss=%#x eip=%#x esp=%#x frame=%d", r, cpu.cpl, s.seg[S_CS].sel,
	      s.seg[S_SS].sel, s.eip, s.gpr[R_ESP], frame);
	r = cpu_run(&cpu, 1);
	s = state();
	CHECK("modes.gate.ret_far_to_ring3",
	      r == EXIT_NONE && cpu.cpl == 3 && s.seg[S_CS].sel == 0x1b && s.seg[S_SS].sel == 0x23 &&
		      s.eip == CODE + 17 && s.gpr[R_ESP] == STACK3,
	      "r=%d cpl=%d cs=%#x ss=%#x eip=%#x esp=%#x", r, cpu.cpl, s.seg[S_CS].sel,
	      s.seg[S_SS].sel, s.eip, s.gpr[R_ESP]);

	gate_machine(3, 0x8c); /* DPL 0 */
	put_bytes(CODE, "9a 00 00 00 00 3b 00");
	r = cpu_run(&cpu, 3);
	bool dpl_gp = r == RUN_EXCEPTION && cpu.exc_vec == EXC_GP && cpu.exc_err == 0x38;
	gate_machine(3, 0x6c); /* not present */
	put_bytes(CODE, "9a 00 00 00 00 3b 00");
	r = cpu_run(&cpu, 3);
	CHECK("modes.gate.dpl_and_present", dpl_gp && r == RUN_EXCEPTION && cpu.exc_vec == EXC_NP &&
		      cpu.exc_err == 0x38,
	      "dpl #GP %d; not present r=%d vec=%d err=%#x", dpl_gp, r, cpu.exc_vec, cpu.exc_err);

	gate_machine(0, 0x8c);
	put_bytes(CODE, "ea 00 00 00 00 38 00");
	r = cpu_run(&cpu, 1);
	bool jmp_ok = r == EXIT_NONE && cpu.eip == HANDLER2 && cpu.r.r32[R_ESP] == STACK0;
	gate_machine(0, 0x8c);
	put_bytes(CODE, "9a 00 00 00 00 38 00");
	r = cpu_run(&cpu, 1);
	CHECK("modes.gate.same_level_jmp_call",
	      jmp_ok && r == EXIT_NONE && cpu.eip == HANDLER2 && cpu.r.r32[R_ESP] == STACK0 - 8 &&
		      get32(STACK0 - 4) == 0x08 && get32(STACK0 - 8) == CODE + 7,
	      "jmp ok %d; call r=%d eip=%#x esp=%#x", jmp_ok, r, cpu.eip, cpu.r.r32[R_ESP]);
}

/* 16-bit interrupt gates push words: same level (FLAGS CS IP), and from
 * ring 3 (SS SP FLAGS CS IP on the TSS stack); IRETW returns. */
static void test_gate16(void)
{
	pm_machine(0);
	/* A 16-bit gate's offset has 16 bits: the handler lives low. */
	gate_entry(IDT + 0x22 * 8, 0x7000, 0x08, 0x86, 0); /* 16-bit interrupt gate */
	put_bytes(CODE, "fb  cd 22  f4"); /* sti; int 0x22; hlt */
	put_bytes(0x7000, "66 cf");	  /* iretw */
	int r = cpu_run(&cpu, 2);
	bool same = r == EXIT_NONE && cpu.eip == 0x7000 && cpu.r.r32[R_ESP] == STACK0 - 6 &&
		    get16(STACK0 - 6) == (uint16_t)(CODE + 3) && get16(STACK0 - 4) == 0x08 &&
		    (get16(STACK0 - 2) & EFLAGS_IF) && !(cpu.eflags & EFLAGS_IF);
	r = cpu_run(&cpu, 1);
	CHECK("modes.idt.gate16_same_level",
	      same && r == EXIT_NONE && cpu.r.r32[R_ESP] == STACK0 && (cpu.eflags & EFLAGS_IF),
	      "frame ok %d, after IRETW r=%d esp=%#x fl=%#x", same, r, cpu.r.r32[R_ESP], cpu.eflags);

	pm_machine(3);
	gate_entry(IDT + 0x80 * 8, 0x7000, 0x08, 0xe6, 0); /* 16-bit, DPL 3 */
	put_bytes(CODE, "cd 80");
	put_bytes(0x7000, "f4");
	cpu.exc_return = false;
	r = cpu_run(&cpu, 5);
	CHECK("modes.idt.gate16_ring3_to_ring0",
	      r == EXIT_HLT && cpu.cpl == 0 && cpu.r.r32[R_ESP] == STACK0 - 10 &&
		      get16(STACK0 - 2) == 0x23 && get16(STACK0 - 4) == (uint16_t)STACK3 &&
		      get16(STACK0 - 8) == 0x1b && get16(STACK0 - 10) == (uint16_t)(CODE + 2),
	      "r=%d cpl=%d esp=%#x frame %#x %#x %#x %#x %#x", r, cpu.cpl, cpu.r.r32[R_ESP],
	      get16(STACK0 - 2), get16(STACK0 - 4), get16(STACK0 - 6), get16(STACK0 - 8),
	      get16(STACK0 - 10));
}

static void test_rdtscp(void)
{
	pm_machine(0);
	put_bytes(CODE, "0f 01 f9");
	int r = cpu_run(&cpu, 1);
	CHECK("modes.rdtscp_ud", r == RUN_EXCEPTION && cpu.exc_vec == EXC_UD && cpu.unimplemented == 0,
	      "r=%d vec=%d unimplemented=%llu", r, cpu.exc_vec,
	      (unsigned long long)cpu.unimplemented);
}

/*
 * Random code in each mode, with far transfers aimed at random system
 * descriptors (TSSs, task gates, call gates with random fields): every
 * run must end in a defined way (an exit, never a crash: ASan and UBSan
 * watch), and leave the mode invariants true: CPL 0 in real mode, CPL 3
 * with paragraph segments in v8086, CS.D deciding the code size.
 *
 * Random handlers can fault before their first instruction completes, over
 * and over, as on the hardware: no instruction retires. cpu_run counts
 * those deliveries against its budget too (test_fault_loop_bounded); a
 * SIGALRM kick after 20 ms stays as the safety net, and is reported.
 */
static uint32_t rng_state;
static volatile int fuzz_kick;

static void on_alarm(int sig)
{
	(void)sig;
	fuzz_kick = 1;
}

static uint32_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 17;
	rng_state ^= rng_state << 5;
	return rng_state;
}

static void random_bytes(uint32_t at, unsigned n)
{
	/* Biased to the opcodes of this file's subject: far JMP/CALL (with
	 * selectors 0x38-0x7f), IRET, INT, RETF, segment loads, PUSHF/POPF. */
	static const uint8_t hot[] = { 0xea, 0x9a, 0xcf, 0xcd, 0xcb, 0xca, 0x8e, 0x9c, 0x9d,
				       0xfa, 0xfb, 0xe4, 0xe6, 0xcc, 0x0f, 0x66 };
	for (unsigned k = 0; k < n; k++) {
		uint32_t v = rng();
		ram[at + k] = (v & 3) == 0 ? hot[(v >> 8) % sizeof hot]
			    : (v & 3) == 1 ? (uint8_t)(0x38 + ((v >> 8) & 0x47))
					   : (uint8_t)(v >> 16);
	}
}

static void random_system_descriptors(void)
{
	static const uint8_t types[] = { 0x1, 0x3, 0x4, 0x5, 0x9, 0xb, 0xc, 0x2 };
	for (int idx = 7; idx < 16; idx++) {
		uint32_t v = rng();
		uint8_t access = (uint8_t)(0x80 | ((v & 3) << 5) | types[(v >> 2) & 7]);
		if ((v >> 5) % 8 == 0)
			access &= 0x7f; /* not present */
		if (types[(v >> 2) & 7] == 0x4 || types[(v >> 2) & 7] == 0xc ||
		    types[(v >> 2) & 7] == 0x5) {
			uint16_t sel = (uint16_t)((rng() % 16) * 8 | (rng() & 3));
			gate_entry(GDT + idx * 8, rng() & 0x1ffff, sel, access, (uint8_t)(v >> 8));
		} else {
			gdt_entry(idx, TSS2 + (rng() & 0x300), (rng() & 1) ? 0x67 : 0x20, access, 0);
		}
	}
	random_bytes(TSS2, 0x400);
	put32(TSS2 + 0x24, rng() & (EFLAGS_VM | EFLAGS_NT | 0xcff));
}

static int fuzz_mode(int mode, unsigned rounds, char *why, size_t why_len, unsigned *kicked_out)
{
	unsigned kicked = 0;
	*kicked_out = 0;
	for (unsigned k = 0; k < rounds; k++) {
		if (mode == 0) {
			real_machine();
			for (int v = 0; v < 256; v++) {
				put16(v * 4u, (uint16_t)(rng() & 0xff));
				put16(v * 4u + 2, 0x2000);
			}
			random_bytes(0x20000, 0x100);
		} else if (mode == 1) {
			v86_machine((rng() >> 4) & 3, "");
		} else {
			pm_machine(rng() & 1 ? 3 : 0);
		}
		if (mode == 1)
			random_bytes(0x20000, 0x100);
		else
			random_bytes(CODE, 0x100);
		random_system_descriptors();
		random_bytes(HANDLER, 0x40);
		random_bytes(HANDLER2, 0x40);
		cpu.exc_return = false;
		cpu.kick = &fuzz_kick;
		fuzz_kick = 0;
		struct itimerval it = { .it_value = { .tv_usec = 20000 } };
		setitimer(ITIMER_REAL, &it, NULL);
		int r = cpu_run(&cpu, 300);
		struct itimerval off = { 0 };
		setitimer(ITIMER_REAL, &off, NULL);
		if (fuzz_kick)
			kicked++;
		bool known = r == EXIT_NONE || r == EXIT_HLT || r == EXIT_SHUTDOWN || r == EXIT_ERROR;
		bool pe = cpu.cr0 & CR0_PE;
		bool v86 = cpu.eflags & EFLAGS_VM;
		const char *bad = !known ? "unknown exit"
				  : !pe && cpu.cpl != 0 ? "CPL not 0 in real mode"
				  : v86 && (cpu.cpl != 3 || cpu.seg[S_CS].base != (uint32_t)cpu.seg[S_CS].sel << 4)
					  ? "v8086 with CPL or CS wrong"
				  : cpu.code16 != !cpu.seg[S_CS].db ? "code size not CS.D"
								   : NULL;
		if (bad) {
			snprintf(why, why_len, "round %u: %s (r=%d cr0=%#x fl=%#x cpl=%d cs=%#x/%#x)", k,
				 bad, r, cpu.cr0, cpu.eflags, cpu.cpl, cpu.seg[S_CS].sel,
				 cpu.seg[S_CS].base);
			return -1;
		}
	}
	*kicked_out = kicked;
	return 0;
}

static void test_fuzz(void)
{
	static const char *const names[] = { "modes.fuzz.real", "modes.fuzz.v86",
					     "modes.fuzz.protected_system_descriptors" };
	signal(SIGALRM, on_alarm);
	for (int m = 0; m < 3; m++) {
		char why[200] = "";
		unsigned kicked;
		rng_state = 0x9e3779b9u + (uint32_t)m;
		int r = fuzz_mode(m, 1000, why, sizeof why, &kicked);
		CHECK(names[m], r == 0, "%s", why);
		printf("# %s: 1000 runs, %u stopped by the kick (a fault loop)\n", names[m], kicked);
	}
	signal(SIGALRM, SIG_DFL);
}

/* A #UD handler that is itself UD2, in real mode: every delivery succeeds
 * (the stack wraps, never runs out) and no instruction ever retires. A run
 * must still end after budget + 1 deliveries: trap runs the core inside its
 * signal handler, where nothing else would stop it. */
static void test_fault_loop_bounded(void)
{
	real_machine();
	put_bytes(CODE, "0f 0b");
	put16(EXC_UD * 4, 0x0100);
	put16(EXC_UD * 4 + 2, 0x2000);
	put_bytes(0x20100, "0f 0b");
	cpu.exc_return = false;
	cpu.kick = &fuzz_kick;
	fuzz_kick = 0;
	signal(SIGALRM, on_alarm);
	struct itimerval it = { .it_value = { .tv_sec = 2 } };
	setitimer(ITIMER_REAL, &it, NULL);
	int r1 = cpu_run(&cpu, 1);
	uint32_t sp1 = cpu.r.r32[R_ESP];
	int r2 = cpu_run(&cpu, 1000);
	struct itimerval off = { 0 };
	setitimer(ITIMER_REAL, &off, NULL);
	signal(SIGALRM, SIG_DFL);
	CHECK("modes.fault_loop_ends_within_budget",
	      r1 == EXIT_NONE && r2 == EXIT_NONE && !fuzz_kick && cpu.seg[S_CS].sel == 0x2000 &&
		      cpu.eip == 0x100 && sp1 == 0x7000 - 12 &&
		      cpu.r.r32[R_ESP] == ((0x7000 - 12 - 1001 * 6) & 0xffff),
	      "r1=%d r2=%d kicked=%d cs=%#x eip=%#x sp after 1: %#x, after 1001: %#x", r1, r2,
	      fuzz_kick, cpu.seg[S_CS].sel, cpu.eip, sp1, cpu.r.r32[R_ESP]);
}

int main(void)
{
	ram = calloc(1, RAM_SIZE);
	if (!ram)
		return 2;
	cpu_init(&cpu, ram, RAM_SIZE, NULL);
	test_real_mode();
	test_real_protected_round_trip();
	test_v86();
	test_io_bitmap();
	test_tasks();
	test_call_gates();
	test_gate16();
	test_rdtscp();
	test_fuzz();
	test_fault_loop_bounded();
	cpu_fini(&cpu);
	free(ram);
	CHECK_DONE();
}
