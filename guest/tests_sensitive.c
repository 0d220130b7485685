/* sensitive.*: instructions that read privileged state without trapping
 * (Robin & Irvine's list). Run in ring 0; each compares what the
 * instruction returns with what this kernel set up. Real hardware passes
 * them all; an engine that runs the kernel deprivileged shows the host's
 * state instead, and these lines say exactly how. */
#include "kit.h"

static void check_dtr(const char *name, struct dtr got, struct dtr want)
{
	test_result(name, got.base == want.base && got.limit == want.limit,
		    "expected base=0x%08x limit=0x%x, got base=0x%08x limit=0x%x", want.base,
		    want.limit, got.base, got.limit);
}

static void test_sgdt(void)
{
	struct dtr d = { 0, 0 };
	__asm__ volatile("sgdt %0" : "=m"(d));
	check_dtr("sensitive.sgdt", d, gdt_loaded);
}

static void test_sidt(void)
{
	struct dtr d = { 0, 0 };
	__asm__ volatile("sidt %0" : "=m"(d));
	check_dtr("sensitive.sidt", d, idt_loaded);
}

static void test_sldt(void)
{
	uint32_t sel = 0xFFFF;
	__asm__ volatile("sldt %0" : "=r"(sel));
	sel &= 0xFFFF;
	test_result("sensitive.sldt", sel == SEL_LDT, "expected 0x%x, got 0x%x", SEL_LDT, sel);
}

static void test_str(void)
{
	uint32_t sel = 0xFFFF;
	__asm__ volatile("str %0" : "=r"(sel));
	sel &= 0xFFFF;
	test_result("sensitive.str", sel == SEL_TSS, "expected 0x%x, got 0x%x", SEL_TSS, sel);
}

static void test_smsw(void)
{
	uint32_t msw = 0;
	__asm__ volatile("smsw %0" : "=r"(msw));
	uint32_t want = read_cr0() & 0xFFFF;
	msw &= 0xFFFF;
	test_result("sensitive.smsw", msw == want && (msw & CR0_PE),
		    "expected 0x%04x (CR0 low bits, PE=1), got 0x%04x", want, msw);
}

static void test_pushf_if(void)
{
	sti();
	uint32_t f = read_eflags();
	test_result("sensitive.pushf_if", f & EFLAGS_IF, "after STI expected IF=1, got eflags=0x%08x", f);
}

static void test_pushf_iopl(void)
{
	uint32_t saved = read_eflags();
	write_eflags(saved | EFLAGS_IOPL);
	uint32_t f = read_eflags();
	write_eflags(saved & ~EFLAGS_IOPL);
	uint32_t after = read_eflags();
	test_result("sensitive.pushf_iopl", (f & EFLAGS_IOPL) == EFLAGS_IOPL && !(after & EFLAGS_IOPL),
		    "after POPF IOPL=3 expected IOPL=3 then 0, got %u then %u", (f >> 12) & 3,
		    (after >> 12) & 3);
}

static void test_popf_if(void)
{
	uint32_t base = read_eflags() | EFLAGS_IF;
	write_eflags(base & ~EFLAGS_IF);
	uint32_t off = read_eflags();
	write_eflags(base);
	uint32_t on = read_eflags();
	test_result("sensitive.popf_if", !(off & EFLAGS_IF) && (on & EFLAGS_IF),
		    "POPF IF=0 then IF=1: expected IF 0 then 1, got %u then %u", (off >> 9) & 1,
		    (on >> 9) & 1);
}

static void test_mov_cs(void)
{
	uint32_t cs = 0xFFFF;
	__asm__ volatile("movl %%cs, %0" : "=r"(cs));
	cs &= 0xFFFF;
	test_result("sensitive.mov_cs", cs == SEL_KCODE, "expected 0x%x (RPL 0), got 0x%x (RPL %u)",
		    SEL_KCODE, cs, cs & 3);
}

static void test_mov_ss(void)
{
	uint32_t ss = 0xFFFF;
	__asm__ volatile("movl %%ss, %0" : "=r"(ss));
	ss &= 0xFFFF;
	test_result("sensitive.mov_ss", ss == SEL_KDATA, "expected 0x%x (RPL 0), got 0x%x (RPL %u)",
		    SEL_KDATA, ss, ss & 3);
}

/* ZF from LAR/LSL/VERR/VERW: set when the selector passed the checks. */
static void test_lar(void)
{
	uint32_t ar = 0, zf;
	__asm__ volatile("larl %2, %0\n\tsetz %b1\n\tmovzbl %b1, %1"
			 : "+r"(ar), "=q"(zf) : "r"((uint32_t)SEL_KCODE) : "cc");
	/* LAR returns descriptor bits 8-23 of the high dword; 16-19 undefined. */
	uint32_t want = (uint32_t)(gdt[SEL_KCODE >> 3] >> 32) & 0x00F0FF00u;
	ar &= 0x00F0FF00u;
	uint32_t dpl = (ar >> 13) & 3, code = (ar >> 11) & 1;
	test_result("sensitive.lar", zf && ar == want && dpl == 0 && code,
		    "expected ZF=1 rights=0x%08x (DPL 0, code), got ZF=%u rights=0x%08x", want, zf, ar);
}

static void test_lsl(void)
{
	uint32_t lim = 0, zf;
	__asm__ volatile("lsll %2, %0\n\tsetz %b1\n\tmovzbl %b1, %1"
			 : "+r"(lim), "=q"(zf) : "r"((uint32_t)SEL_KCODE) : "cc");
	uint64_t d = gdt[SEL_KCODE >> 3];
	uint32_t want = (uint32_t)(d & 0xFFFF) | (uint32_t)((d >> 32) & 0xF0000);
	if (d & (1ull << 55))
		want = (want << 12) | 0xFFF;
	test_result("sensitive.lsl", zf && lim == want, "expected ZF=1 limit=0x%08x, got ZF=%u limit=0x%08x",
		    want, zf, lim);
}

static void test_verr(void)
{
	uint32_t zf;
	__asm__ volatile("verr %w1\n\tsetz %b0\n\tmovzbl %b0, %0" : "=q"(zf) : "r"((uint32_t)SEL_KCODE) : "cc");
	test_result("sensitive.verr", zf, "kernel code selector 0x%x: expected ZF=1 (readable), got 0", SEL_KCODE);
}

static void test_verw(void)
{
	uint32_t zf;
	__asm__ volatile("verw %w1\n\tsetz %b0\n\tmovzbl %b0, %0" : "=q"(zf) : "r"((uint32_t)SEL_KDATA) : "cc");
	test_result("sensitive.verw", zf, "kernel data selector 0x%x: expected ZF=1 (writable), got 0", SEL_KDATA);
}

void tests_sensitive(void)
{
	static const struct {
		const char *name;
		void (*fn)(void);
	} tests[] = {
		{ "sensitive.sgdt", test_sgdt },       { "sensitive.sidt", test_sidt },
		{ "sensitive.sldt", test_sldt },       { "sensitive.str", test_str },
		{ "sensitive.smsw", test_smsw },       { "sensitive.pushf_if", test_pushf_if },
		{ "sensitive.pushf_iopl", test_pushf_iopl }, { "sensitive.popf_if", test_popf_if },
		{ "sensitive.mov_cs", test_mov_cs },   { "sensitive.mov_ss", test_mov_ss },
		{ "sensitive.lar", test_lar },         { "sensitive.lsl", test_lsl },
		{ "sensitive.verr", test_verr },       { "sensitive.verw", test_verw },
	};
	for (uint32_t i = 0; i < sizeof tests / sizeof tests[0]; i++)
		if (test_wanted(tests[i].name))
			tests[i].fn();
	sti();
}
