/* fpu.*: the x87 FPU as a kernel sees it. Known answers (hardware values,
 * round to nearest unless said), FSAVE/FRSTOR, state kept across timer
 * interrupts and VMM exits, #NM from CR0.TS/EM/MP, #MF (CR0.NE=1) and
 * FERR#/IRQ13 (NE=0). The kit is built with -mno-80387: every x87
 * instruction here is inline assembly, on integer bit patterns. */
#include "kit.h"
#include "pv.h"

#define CR0_MP 0x02u
#define CR0_EM 0x04u
#define CR0_TS 0x08u
#define CR0_NE 0x20u

struct f80 {
	uint64_t m;
	uint16_t se;
} __attribute__((packed));

struct fsave {
	uint32_t cw, sw, tw, fip, fcs_fop, fdp, fds;
	struct f80 st[8];
} __attribute__((packed));

static int same(const void *a, const void *b, uint32_t n)
{
	const uint8_t *p = a, *q = b;
	for (uint32_t k = 0; k < n; k++)
		if (p[k] != q[k])
			return 0;
	return 1;
}

static int f80_is(const struct f80 *v, uint16_t se, uint64_t m)
{
	return v->se == se && v->m == m;
}

static uint16_t fnstsw(void)
{
	uint16_t sw;
	__asm__ volatile("fnstsw %0" : "=a"(sw));
	return sw;
}

static void fldcw(uint16_t cw)
{
	__asm__ volatile("fldcw %0" : : "m"(cw));
}

/* fpu.arith: results the hardware gives, bit for bit. */
static void test_arith(void)
{
	const char *name = "fpu.arith";
	struct f80 r;
	uint64_t q;
	uint32_t i32;
	uint16_t sw;
	static const uint32_t three = 3;

	/* sqrt(2), extended precision */
	__asm__ volatile("fninit; fld1; fld1; faddp; fsqrt; fstpt %0" : "=m"(r));
	if (!f80_is(&r, 0x3fff, 0xb504f333f9de6484ull)) {
		test_fail(name, "fsqrt(2) = %04x:%08x%08x", r.se, (uint32_t)(r.m >> 32), (uint32_t)r.m);
		return;
	}
	/* 1/3 with precision control = double, stored as a double */
	fldcw(0x027f);
	__asm__ volatile("fld1; fildl %1; fdivrp; fstpl %0" : "=m"(q) : "m"(three));
	if (q != 0x3fd5555555555555ull) {
		test_fail(name, "1/3 (PC=double) = %08x%08x", (uint32_t)(q >> 32), (uint32_t)q);
		return;
	}
	/* pi, rounded to nearest */
	__asm__ volatile("fninit; fldpi; fstpt %0" : "=m"(r));
	if (!f80_is(&r, 0x4000, 0xc90fdaa22168c235ull)) {
		test_fail(name, "fldpi = %04x:%08x%08x", r.se, (uint32_t)(r.m >> 32), (uint32_t)r.m);
		return;
	}
	/* 2^40 does not fit an int32: the integer indefinite, IE (masked) */
	static const uint64_t big = 1ull << 40;
	__asm__ volatile("fninit; fildll %1; fistpl %0" : "=m"(i32) : "m"(big));
	sw = fnstsw();
	if (i32 != 0x80000000u || !(sw & 1)) {
		test_fail(name, "fistp of 2^40 = 0x%08x, sw 0x%04x (want 0x80000000 and IE)", i32, sw);
		return;
	}
	/* FRNDINT of 2.5 and -2.5 under the four rounding modes */
	static const uint32_t two_and_half = 0x40200000u; /* 2.5f */
	static const int want[4][2] = { { 2, -2 }, { 2, -3 }, { 3, -2 }, { 2, -2 } };
	for (int rc = 0; rc < 4; rc++)
		for (int neg = 0; neg < 2; neg++) {
			int32_t got;
			__asm__ volatile("fninit" ::: "memory");
			fldcw((uint16_t)(0x037f | rc << 10));
			__asm__ volatile("flds %1\n\t"
					 "testl %2, %2\n\t"
					 "jz 1f\n\t"
					 "fchs\n"
					 "1:\tfrndint\n\t"
					 "fistpl %0"
					 : "=m"(got) : "m"(two_and_half), "r"(neg));
			if (got != want[rc][neg]) {
				test_fail(name, "frndint(%s2.5) with RC=%d = %d, want %d", neg ? "-" : "",
					  rc, got, want[rc][neg]);
				return;
			}
		}
	/* FCOMI: 1 < 2 sets CF only */
	uint32_t fl;
	__asm__ volatile("fninit; fld1; fld1; fld1; faddp; fxch; fcomi %%st(1), %%st; "
			 "pushfl; popl %0; fninit" : "=r"(fl));
	if ((fl & 0x8d5) != 0x001) {
		test_fail(name, "fcomi 1.0, 2.0: eflags 0x%08x (want CF only)", fl);
		return;
	}
	/* FBSTP 12345 */
	static const uint32_t n12345 = 12345;
	uint8_t bcd[10];
	__asm__ volatile("fninit; fildl %1; fbstp %0" : "=m"(bcd) : "m"(n12345));
	if (bcd[0] != 0x45 || bcd[1] != 0x23 || bcd[2] != 0x01 || bcd[3] || bcd[9]) {
		test_fail(name, "fbstp 12345 = %02x %02x %02x %02x .. %02x", bcd[0], bcd[1], bcd[2],
			  bcd[3], bcd[9]);
		return;
	}
	/* FXAM of an empty register: C3=1 C2=0 C0=1 */
	__asm__ volatile("fninit; fxam; fnstsw %0" : "=a"(sw));
	if ((sw & 0x4500) != 0x4100) {
		test_fail(name, "fxam of empty ST0: sw 0x%04x", sw);
		return;
	}
	/* (Stack overflow is left to the differential test: QEMU-TCG does
	 * not model x87 stack faults, it wraps.) */
	test_pass(name);
}

/* fpu.fsave_frstor: a state saved, the FPU reset, restored and saved again
 * gives the same control, status and tag words and registers. */
static void test_fsave(void)
{
	static struct fsave a, b;
	__asm__ volatile("fninit" ::: "memory");
	fldcw(0x0b7f); /* round up, all masked */
	__asm__ volatile("fldpi; fld1; fldl2e; fldz; fdiv %%st(1), %%st; fnsave %0" : "=m"(a));
	__asm__ volatile("fld1; fld1; frstor %1; fnsave %0" : "=m"(b) : "m"(a));
	int ok = (a.cw & 0xffff) == (b.cw & 0xffff) && (a.sw & 0xffff) == (b.sw & 0xffff) &&
		 (a.tw & 0xffff) == (b.tw & 0xffff) && same(a.st, b.st, sizeof a.st);
	if (!ok) {
		test_fail("fpu.fsave_frstor", "cw %04x/%04x sw %04x/%04x tw %04x/%04x or registers differ",
			  a.cw & 0xffff, b.cw & 0xffff, a.sw & 0xffff, b.sw & 0xffff,
			  a.tw & 0xffff, b.tw & 0xffff);
		return;
	}
	/* what was saved: CW as loaded, TOP=4, four registers in use */
	test_result("fpu.fsave_frstor",
		    (a.cw & 0xffff) == 0x0b7f && ((a.sw >> 11) & 7) == 4 && (a.tw & 0xffff) != 0xffff &&
			    f80_is(&a.st[3], 0x4000, 0xc90fdaa22168c235ull),
		    "saved cw %04x sw %04x tw %04x", a.cw & 0xffff, a.sw & 0xffff, a.tw & 0xffff);
}

/* One step of a computation whose every bit depends on the control word
 * (round up, double precision) and on the registers it keeps. */
static inline void step(void)
{
	__asm__ volatile("fmul %st(1), %st\n\t"
			 "fadd %st(2), %st\n\t"
			 "fsqrt");
}

static void chain_start(void)
{
	__asm__ volatile("fninit" ::: "memory");
	fldcw(0x0a7f);
	__asm__ volatile("fldl2t; fldpi; fld1");
}

/* fpu.preserved: the same chain of FPU operations, run once with an OUT to
 * port 0x80 (a VMM exit) between steps and timer interrupts arriving, and
 * once with interrupts off and no exits, ends in the same state. */
static void test_preserved(void)
{
	static struct fsave with, without;
	uint32_t n = 0, t0 = ticks;
	chain_start();
	while (ticks - t0 < 5 && n < 50000000u) {
		step();
		outb(0x80, (uint8_t)n);
		n++;
		irq_on();
	}
	__asm__ volatile("fnsave %0" : "=m"(with));
	uint32_t f = irq_save();
	irq_off();
	chain_start();
	for (uint32_t k = 0; k < n; k++)
		step();
	__asm__ volatile("fnsave %0" : "=m"(without));
	irq_restore(f);
	kprintf("# fpu.preserved: %u steps across %u timer ticks\n", n, ticks - t0);
	test_result("fpu.preserved",
		    ticks - t0 >= 5 && (with.cw & 0xffff) == 0x0a7f &&
			    (with.sw & 0xffff) == (without.sw & 0xffff) &&
			    same(with.st, without.st, sizeof with.st),
		    "%u steps, %u ticks: cw %04x sw %04x/%04x st0 %08x%08x/%08x%08x", n, ticks - t0,
		    with.cw & 0xffff, with.sw & 0xffff, without.sw & 0xffff,
		    (uint32_t)(with.st[0].m >> 32), (uint32_t)with.st[0].m,
		    (uint32_t)(without.st[0].m >> 32), (uint32_t)without.st[0].m);
}

/* fpu.after_sti: an FPU instruction in the STI shadow, where a
 * trap-and-emulate VMM runs the guest in its emulator: same answer. */
static void test_after_sti(void)
{
	struct f80 r;
	uint32_t f = read_eflags();
	__asm__ volatile("fninit; fld1; fldpi; cli; sti; faddp; fstpt %0" : "=m"(r));
	write_eflags(f);
	test_result("fpu.after_sti", f80_is(&r, 0x4001, 0x8487ed5110b4611aull),
		    "1 + pi = %04x:%08x%08x", r.se, (uint32_t)(r.m >> 32), (uint32_t)r.m);
}

/* Runs one x87 instruction (fld1) or FWAIT with cr0 bits set; expects #NM
 * or nothing. */
static void nm_case(const char *name, uint32_t set, int wait, int expect)
{
	uint32_t cr0 = read_cr0(), at;
	__asm__ volatile("fninit" ::: "memory");
	write_cr0((cr0 & ~(CR0_MP | CR0_EM | CR0_TS)) | set);
	trap_arm(7);
	if (wait)
		__asm__ volatile("movl $2f, %[res]\n\t"
				 "movl $1f, %[at]\n"
				 "1:\tfwait\n"
				 "2:\n"
				 : [res] "=m"(trap_expect.resume), [at] "=&r"(at) : : "memory");
	else
		__asm__ volatile("movl $2f, %[res]\n\t"
				 "movl $1f, %[at]\n"
				 "1:\tfld1\n"
				 "2:\n"
				 : [res] "=m"(trap_expect.resume), [at] "=&r"(at) : : "memory");
	trap_expect.armed = 0;
	write_cr0(cr0);
	__asm__ volatile("fninit" ::: "memory");
	if (expect)
		test_result(name, trap_expect.hit && trap_expect.got_eip == at,
			    "hit %d at 0x%08x, expected #NM at 0x%08x", trap_expect.hit,
			    trap_expect.got_eip, at);
	else
		test_result(name, !trap_expect.hit, "#NM at 0x%08x, expected none",
			    trap_expect.got_eip);
}

static void test_nm(void)
{
	if (test_wanted("fpu.nm_ts"))
		nm_case("fpu.nm_ts", CR0_TS, 0, 1);
	if (test_wanted("fpu.nm_em"))
		nm_case("fpu.nm_em", CR0_EM, 0, 1);
	if (test_wanted("fpu.nm_wait_mp_ts"))
		nm_case("fpu.nm_wait_mp_ts", CR0_MP | CR0_TS, 1, 1);
	if (test_wanted("fpu.wait_ts_no_mp"))
		nm_case("fpu.wait_ts_no_mp", CR0_TS, 1, 0);
}

/* fpu.mf: CR0.NE=1, zero divide unmasked: 1/0 only flags it; the next
 * waiting instruction (FWAIT) raises #MF, at the FWAIT. */
static void test_mf(void)
{
	uint32_t cr0 = read_cr0(), at;
	write_cr0(cr0 | CR0_NE);
	__asm__ volatile("fninit" ::: "memory");
	fldcw(0x037b);
	__asm__ volatile("fld1; fldz; fdivrp" ::: "memory");
	uint16_t sw = fnstsw();
	trap_arm(16);
	__asm__ volatile("movl $2f, %[res]\n\t"
			 "movl $1f, %[at]\n"
			 "1:\tfwait\n"
			 "2:\n"
			 : [res] "=m"(trap_expect.resume), [at] "=&r"(at) : : "memory");
	trap_expect.armed = 0;
	uint16_t sw2 = fnstsw();
	__asm__ volatile("fnclex; fninit" ::: "memory");
	write_cr0(cr0);
	test_result("fpu.mf", (sw & 0x84) == 0x84 && trap_expect.hit && trap_expect.got_eip == at &&
				      (sw2 & 0x84) == 0x84,
		    "sw after 1/0 0x%04x (want ZE+ES), #MF hit %d at 0x%08x (want 0x%08x)", sw,
		    trap_expect.hit, trap_expect.got_eip, at);
}

/* fpu.ferr_irq13: CR0.NE=0, the PC way: an unmasked exception asserts
 * FERR#, which the PC wires to IRQ13; the handler clears it (FNCLEX, and
 * port 0xF0 for the chipset's latch). */
static volatile uint32_t irq13_seen;

static struct regs *irq13(struct regs *r)
{
	irq13_seen++;
	__asm__ volatile("fnclex" ::: "memory");
	outb(0xf0, 0);
	return r;
}

static void test_ferr(void)
{
	uint32_t cr0 = read_cr0();
	write_cr0(cr0 & ~CR0_NE);
	uint8_t m1 = inb(0x21), m2 = inb(0xa1);
	irq13_hook = irq13;
	irq13_seen = 0;
	outb(0xa1, m2 & ~0x20); /* IRQ13 */
	outb(0x21, m1 & ~0x04); /* the cascade */
	__asm__ volatile("fninit" ::: "memory");
	fldcw(0x037b);
	__asm__ volatile("fld1; fldz; fdivrp" ::: "memory");
	sti();
	__asm__ volatile("fwait; nop; nop; nop" ::: "memory");
	uint32_t t0 = ticks;
	while (!irq13_seen && ticks - t0 < 10)
		sti_hlt();
	uint16_t sw = fnstsw();
	outb(0xa1, m2);
	outb(0x21, m1);
	irq13_hook = 0;
	__asm__ volatile("fninit" ::: "memory");
	write_cr0(cr0);
	test_result("fpu.ferr_irq13", irq13_seen == 1 && !(sw & 0x80),
		    "IRQ13 seen %u times, sw 0x%04x after the handler", irq13_seen, sw);
}

void tests_fpu(void)
{
	if (test_wanted("fpu.arith"))
		test_arith();
	if (test_wanted("fpu.fsave_frstor"))
		test_fsave();
	if (test_wanted("fpu.preserved"))
		test_preserved();
	if (test_wanted("fpu.after_sti"))
		test_after_sti();
	test_nm();
	if (test_wanted("fpu.mf"))
		test_mf();
	/* Only when asked ("ferr" on the command line): QEMU-TCG (7.2) aborts
	 * on FERR#/IRQ13 (an assertion in tcg_handle_interrupt), so the kit's
	 * reference run cannot include it; tests/t_fpu.sh runs it on ringvm. */
	if (cmdline_has("ferr") && test_wanted("fpu.ferr_irq13"))
		test_ferr();
}
