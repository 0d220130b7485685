/* IDT: the 32 exceptions, 16 PIC IRQs and vectors 0x30-0x5f (local APIC and
 * IOAPIC tests) as ring-0 interrupt gates, and
 * int 0x80 as an interrupt gate that ring 3 may invoke (DPL 3). */
#include "kit.h"

extern const uint32_t isr_stub_table[96];   /* isr.S */
extern const char isr_stub_syscall[];

static uint64_t idt[256] __attribute__((aligned(8)));
struct dtr idt_loaded;

static uint64_t gate(uint32_t handler, uint8_t dpl)
{
	uint64_t g = handler & 0xFFFFu;
	g |= (uint64_t)SEL_KCODE << 16;
	g |= (uint64_t)(0x8E | (dpl << 5)) << 40;   /* present, 32-bit interrupt gate */
	g |= (uint64_t)(handler >> 16) << 48;
	return g;
}

void idt_init(void)
{
	for (int v = 0; v < 96; v++)
		idt[v] = gate(isr_stub_table[v], 0);
	idt[0x80] = gate((uint32_t)isr_stub_syscall, 3);
	idt_loaded.limit = sizeof idt - 1;
	idt_loaded.base = (uint32_t)idt;
	if (pv_active)
		pv_check_call("set_idt", pv_call(RINGVM_HC_SET_IDT, idt_loaded.base, idt_loaded.limit, 0));
	else
		__asm__ volatile("lidt %0" : : "m"(idt_loaded));
}
