/* The smoke mode: paging off, ring 0 only, a handful of instructions. It
 * exists for hypervisors that cannot run a 32-bit guest with paging, and
 * for engines that run at microseconds per instruction.
 *
 * This file and the hardware drivers it uses are built a second time as
 * "low" objects: linked at their load address, with every symbol renamed
 * lo_*, so this code runs before paging exists and shares nothing with
 * the higher-half kernel. */
#include "kit.h"
#include "bench.h"

static int is_bcd_or_binary_seconds(uint8_t v, int bcd)
{
	if (bcd)
		return (v & 0x0F) <= 9 && (v >> 4) <= 5;
	return v <= 59;
}

static void smoke_tests(void)
{
	uint32_t a, b, c, d;

	test_pass("smoke.serial");

	cpuid(0, &a, &b, &c, &d);
	int printable = 1;
	uint32_t regs[3] = { b, d, c };
	for (int i = 0; i < 12; i++) {
		uint8_t ch = (uint8_t)(regs[i / 4] >> (8 * (i % 4)));
		if (ch < 0x20 || ch > 0x7E)
			printable = 0;
	}
	test_result("smoke.cpuid", a >= 1 && printable,
		    "max leaf %u (want >= 1), vendor printable=%d", a, printable);

	int bcd = !(cmos_read(0x0B) & 0x04);    /* status B bit 2: binary mode */
	uint8_t s1 = rtc_seconds(), s2 = rtc_seconds();
	outb(0x80, 0x42);                       /* POST port: must simply be accepted */
	test_result("smoke.port",
		    is_bcd_or_binary_seconds(s1, bcd) && is_bcd_or_binary_seconds(s2, bcd),
		    "RTC seconds 0x%x then 0x%x, not valid %s", s1, s2, bcd ? "BCD" : "binary");

	pic_init();
	pit_init(100);
	/* Each HLT returns on an interrupt; the count bounds the wait. */
	uint32_t n = 0;
	while (ticks < 5 && n < 50) {
		irq_on_halt();
		n++;
	}
	irq_off();
	test_result("smoke.pic_pit", ticks >= 5, "%u IRQ 0 ticks after %u HLTs, want 5", ticks, n);

	uint32_t before = ticks;
	irq_on_halt();
	irq_off();
	test_result("smoke.hlt", ticks > before, "HLT returned without a timer tick (%u -> %u)",
		    before, ticks);

	/* Paravirtual only: the doorbell answers, and refuses what it must
	 * (this is the kvm engine's hypercall test: paging off there). */
	if (pv_active) {
		int32_t v = pv_call(RINGVM_HC_VERSION, 0, 0, 0);
		int32_t nosys = pv_call(9999, 0, 0, 0);
		int32_t fault = pv_call(RINGVM_HC_CONSOLE_WRITE, 0xF0000000u, 16, 0);
		int32_t big = pv_call(RINGVM_HC_MMU_UPDATE, 0x1000, 0x100000, 0);
		/* The pvclock against 5 PIT ticks at 100 Hz (50 ms). */
		uint32_t t = ticks;
		while (ticks == t)
			irq_on_halt();
		uint64_t a = pv_clock_ns();
		t = ticks;
		while (ticks - t < 5)
			irq_on_halt();
		uint32_t ms = (uint32_t)udivmod64(pv_clock_ns() - a, 1000000, NULL);
		/* The virtual IF: a tick is held while it is off, taken at once
		 * when it is back on (through the event call). */
		irq_off();
		t = ticks;
		uint64_t start = rdtsc();
		while (!pv_shared->irq_pending && rdtsc() - start < 4000000000ull)
			;
		uint32_t held = ticks - t, pending = pv_shared->irq_pending;
		irq_on();
		uint32_t taken = ticks - t;
		irq_off();
		test_result("smoke.pv", v == RINGVM_PV_VERSION && nosys == -RINGVM_ENOSYS &&
						fault == -RINGVM_EFAULT && big == -RINGVM_E2BIG && ms >= 30 &&
						ms <= 100 && pending && !held && taken >= 1,
			    "version %d, unknown call %d, console outside RAM %d, huge batch %d, "
			    "pvclock %u ms for 5 ticks (want 30..100), masked: pending %u held %u "
			    "(want 1, 0), unmasked: %u ticks (want >= 1)",
			    (int)v, (int)nosys, (int)fault, (int)big, ms, pending, held, taken);
	}
}

void smoke_boot(uint32_t magic, uint32_t mbi_phys)
{
	bootinfo_parse(magic, mbi_phys, 0);
	if (!cmdline_has("smoke"))
		return;
	serial_init();
	pv_init();
	print_banner();
	gdt_init();
	idt_init();
	if (bench_mode()) {
		/* "smoke bench=...": the ring-0 benchmarks, paging off. */
		pic_init();
		pit_init(100);
		bench_r0_all();
		tests_finish();
	}
	smoke_tests();
	tests_finish();
}
