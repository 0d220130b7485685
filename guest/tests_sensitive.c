/* sensitive.*: instructions that read privileged state without trapping
 * (Robin & Irvine's list). Run in ring 0; each compares what the
 * instruction returns with what this kernel set up. Real hardware passes
 * them all; an engine that runs the kernel deprivileged shows the host's
 * state instead, and these lines say exactly how. */
#include "kit.h"

static void tests_sensitive_fv(void);

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

/* --- the paravirtual kernel's view of the same state ---
 * A PV kernel executes none of these instructions: it asks the VMM
 * (RINGVM_HC_READ_STATE), reads its own tables, and keeps the interrupt
 * flag in the shared page. Each test checks that this view is what the
 * kernel set up, and, for the interrupt flag, that it really holds
 * interrupts back. */

static struct ringvm_pv_sysregs pv_state(void)
{
	struct ringvm_pv_sysregs r;
	memset(&r, 0xFF, sizeof r);
	int32_t e = pv_call(RINGVM_HC_READ_STATE, (uint32_t)&r, 0, 0);
	if (e < 0)
		test_fail("sensitive.read_state", "RINGVM_HC_READ_STATE returned %d", (int)e);
	return r;
}

/* The descriptor the VMM's GDTR names: the PV LAR/LSL/VERR/VERW read it. */
static uint64_t pv_descriptor(uint32_t sel)
{
	struct ringvm_pv_sysregs r = pv_state();
	if ((sel & ~7u) + 7 > r.gdt_limit)
		return 0;
	return *(const uint64_t *)(r.gdt_base + (sel & ~7u));
}

static void pv_sgdt(void)
{
	struct ringvm_pv_sysregs r = pv_state();
	check_dtr("sensitive.sgdt", (struct dtr){ r.gdt_limit, r.gdt_base }, gdt_loaded);
}

static void pv_sidt(void)
{
	struct ringvm_pv_sysregs r = pv_state();
	check_dtr("sensitive.sidt", (struct dtr){ r.idt_limit, r.idt_base }, idt_loaded);
}

static void pv_sel(const char *name, uint32_t got, uint32_t want)
{
	test_result(name, got == want, "expected 0x%x, got 0x%x", want, got);
}

static void pv_sldt(void) { pv_sel("sensitive.sldt", pv_state().ldtr, SEL_LDT); }
static void pv_str(void) { pv_sel("sensitive.str", pv_state().tr, SEL_TSS); }
static void pv_mov_cs(void) { pv_sel("sensitive.mov_cs", pv_state().cs, SEL_KCODE); }
static void pv_mov_ss(void) { pv_sel("sensitive.mov_ss", pv_state().ss, SEL_KDATA); }

static void pv_smsw(void)
{
	uint32_t cr0 = pv_state().cr0;
	const uint32_t want = CR0_PE | CR0_WP | CR0_PG;
	test_result("sensitive.smsw", (cr0 & want) == want, "expected PE, WP and PG in CR0, got 0x%08x", cr0);
}

static void pv_pushf_if(void)
{
	irq_on();
	uint32_t fl = pv_state().eflags;
	test_result("sensitive.pushf_if", irq_is_on() && (fl & EFLAGS_IF),
		    "after enabling: virtual IF %d (want 1), EFLAGS.IF %u (want 1: the VMM keeps it on)",
		    irq_is_on(), (fl >> 9) & 1);
}

/* The kernel never raises IOPL; the VMM must report it at 0. */
static void pv_pushf_iopl(void)
{
	uint32_t fl = pv_state().eflags;
	test_result("sensitive.pushf_iopl", !(fl & EFLAGS_IOPL), "IOPL %u, expected 0", (fl >> 12) & 3);
}

/* Masked, a timer interrupt must be held (and flagged pending), not taken;
 * unmasked, it must arrive before the next instruction that matters. */
static void pv_popf_if(void)
{
	uint32_t saved = irq_save();
	irq_off();
	uint32_t t0 = ticks, spins = 0;
	uint64_t start = rdtsc();
	while (!pv_shared->irq_pending && rdtsc() - start < 4000000000ull)
		spins++;
	uint32_t held = ticks - t0, pending = pv_shared->irq_pending;
	irq_restore(saved);
	irq_on();
	uint32_t after = ticks - t0;
	test_result("sensitive.popf_if", pending && held == 0 && after >= 1 && !pv_shared->irq_pending,
		    "masked: pending %u after %u spins, %u ticks taken (want 0); unmasked: %u ticks (want >= 1)",
		    pending, spins, held, after);
}

static void pv_lar(void)
{
	uint64_t d = pv_descriptor(SEL_KCODE);
	uint32_t ar = (uint32_t)(d >> 32) & 0x00F0FF00u;
	uint32_t want = (uint32_t)(gdt[SEL_KCODE >> 3] >> 32) & 0x00F0FF00u;
	test_result("sensitive.lar", ar == want && ((ar >> 13) & 3) == 0 && (ar & 0x800),
		    "expected rights=0x%08x (DPL 0, code), got 0x%08x", want, ar);
}

static void pv_lsl(void)
{
	uint64_t d = pv_descriptor(SEL_KCODE);
	uint32_t lim = (uint32_t)(d & 0xFFFF) | (uint32_t)((d >> 32) & 0xF0000);
	if (d & (1ull << 55))
		lim = (lim << 12) | 0xFFF;
	test_result("sensitive.lsl", lim == 0xFFFFFFFFu, "expected limit=0xffffffff, got 0x%08x", lim);
}

static void pv_verr(void)
{
	uint32_t hi = (uint32_t)(pv_descriptor(SEL_KCODE) >> 32);
	test_result("sensitive.verr", (hi & 0x8000) && (hi & 0x1000) && (hi & 0x0A00) == 0x0A00,
		    "kernel code selector 0x%x: expected present readable code, got 0x%08x", SEL_KCODE, hi);
}

static void pv_verw(void)
{
	uint32_t hi = (uint32_t)(pv_descriptor(SEL_KDATA) >> 32);
	test_result("sensitive.verw", (hi & 0x8000) && (hi & 0x1000) && (hi & 0x0A00) == 0x0200,
		    "kernel data selector 0x%x: expected present writable data, got 0x%08x", SEL_KDATA, hi);
}

void tests_sensitive(void)
{
	static const struct {
		const char *name;
		void (*fn)(void);
	} pv_tests[] = {
		{ "sensitive.sgdt", pv_sgdt },	     { "sensitive.sidt", pv_sidt },
		{ "sensitive.sldt", pv_sldt },	     { "sensitive.str", pv_str },
		{ "sensitive.smsw", pv_smsw },	     { "sensitive.pushf_if", pv_pushf_if },
		{ "sensitive.pushf_iopl", pv_pushf_iopl }, { "sensitive.popf_if", pv_popf_if },
		{ "sensitive.mov_cs", pv_mov_cs },   { "sensitive.mov_ss", pv_mov_ss },
		{ "sensitive.lar", pv_lar },	     { "sensitive.lsl", pv_lsl },
		{ "sensitive.verr", pv_verr },	     { "sensitive.verw", pv_verw },
	};
	if (pv_active) {
		for (uint32_t i = 0; i < sizeof pv_tests / sizeof pv_tests[0]; i++)
			if (test_wanted(pv_tests[i].name))
				pv_tests[i].fn();
		irq_on();
		return;
	}
	tests_sensitive_fv();
}

static void tests_sensitive_fv(void)
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
