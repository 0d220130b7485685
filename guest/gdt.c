/* GDT: flat kernel and user segments, a TSS (for ESP0 on ring 3 -> 0
 * transitions) and an LDT with one descriptor, so that SLDT, LAR, LSL,
 * VERR and VERW all have something real to report. */
#include "kit.h"

struct __attribute__((packed)) tss {
	uint32_t link, esp0, ss0, esp1, ss1, esp2, ss2, cr3, eip, eflags;
	uint32_t eax, ecx, edx, ebx, esp, ebp, esi, edi;
	uint32_t es, cs, ss, ds, fs, gs, ldt;
	uint16_t trap, iomap_base;
};

uint64_t gdt[GDT_ENTRIES] __attribute__((aligned(8)));
uint64_t ldt[1] __attribute__((aligned(8)));
struct dtr gdt_loaded;
static struct tss tss;

/* access: P DPL S type; flags: G (4 KiB granularity) and D (32-bit). */
static uint64_t descriptor(uint32_t base, uint32_t limit, uint8_t access, uint8_t flags)
{
	uint64_t d = limit & 0xFFFFu;
	d |= (uint64_t)(base & 0xFFFFFFu) << 16;
	d |= (uint64_t)access << 40;
	d |= (uint64_t)((limit >> 16) & 0xFu) << 48;
	d |= (uint64_t)(flags & 0xFu) << 52;
	d |= (uint64_t)(base >> 24) << 56;
	return d;
}

/* Base 0, limit 4 GiB (0xFFFFF pages, G=1), 32-bit (D=1). */
static uint64_t flat(uint8_t access)
{
	return descriptor(0, 0xFFFFFu, access, 0xC);
}

void gdt_init(void)
{
	gdt[0] = 0;
	gdt[SEL_KCODE >> 3] = flat(0x9A);   /* ring 0 code, readable */
	gdt[SEL_KDATA >> 3] = flat(0x92);   /* ring 0 data, writable */
	gdt[SEL_UCODE >> 3] = flat(0xFA);   /* ring 3 code */
	gdt[SEL_UDATA >> 3] = flat(0xF2);   /* ring 3 data */
	gdt[SEL_TSS >> 3] = descriptor((uint32_t)&tss, sizeof tss - 1, 0x89, 0);
	gdt[SEL_LDT >> 3] = descriptor((uint32_t)ldt, sizeof ldt - 1, 0x82, 0);
	ldt[0] = flat(0x92);

	memset(&tss, 0, sizeof tss);
	tss.ss0 = SEL_KDATA;
	/* I/O map base past the TSS limit: no I/O bitmap, so ring-3 IN/OUT fault. */
	tss.iomap_base = sizeof tss;

	gdt_loaded.limit = sizeof gdt - 1;
	gdt_loaded.base = (uint32_t)gdt;
	if (pv_active) {
		/* The VMM checks the table (no gates, nothing that would give
		 * the kernel what it does not own) before it takes it. */
		pv_check_call("set_gdt", pv_call(RINGVM_HC_SET_GDT, gdt_loaded.base, gdt_loaded.limit, 0));
	} else {
		__asm__ volatile("lgdt %0" : : "m"(gdt_loaded) : "memory");
	}
	__asm__ volatile(
		"ljmp %0, $1f\n"
		"1:\n\t"
		"movw %w1, %%ds\n\t"
		"movw %w1, %%es\n\t"
		"movw %w1, %%fs\n\t"
		"movw %w1, %%gs\n\t"
		"movw %w1, %%ss\n\t"
		: : "i"(SEL_KCODE), "r"(SEL_KDATA) : "memory");
	if (pv_active) {
		pv_check_call("load_tr", pv_call(RINGVM_HC_LOAD_TR, SEL_TSS, 0, 0));
		pv_check_call("set_ldt", pv_call(RINGVM_HC_SET_LDT, SEL_LDT, 0, 0));
	} else {
		__asm__ volatile("ltr %w0" : : "r"(SEL_TSS));
		__asm__ volatile("lldt %w0" : : "r"(SEL_LDT));
	}
}

void tss_set_esp0(uint32_t esp0)
{
	if (pv_active)
		pv_check_call("set_kstack", pv_call(RINGVM_HC_SET_KSTACK, SEL_KDATA, esp0, 0));
	else
		tss.esp0 = esp0;
}
