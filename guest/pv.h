/* The kit's paravirtual layer: when CPUID shows ringvm's PV ABI
 * (include/ringvm/pv.h), every sensitive operation the kernel performs goes
 * through a hypercall or a store to the shared page instead of the
 * instruction; otherwise (QEMU, real hardware, "nopv" on the command line)
 * the instruction itself runs. Same binary either way, decided at boot. */
#ifndef KIT_PV_H
#define KIT_PV_H
#include <stdint.h>
#include "ringvm/pv.h"
#include "cpu.h"

extern int pv_active;
extern volatile struct ringvm_pv_shared *pv_shared;

/* The doorbell: EAX = number, EBX, ECX, EDX = arguments; result in EAX. */
static inline int32_t pv_call(uint32_t nr, uint32_t a, uint32_t b, uint32_t c)
{
	uint32_t r = nr;
	__asm__ volatile("outl %%eax, %1" : "+a"(r) : "i"(RINGVM_PV_PORT), "b"(a), "c"(b), "d"(c)
			 : "memory");
	return (int32_t)r;
}

/* Detects the ABI (unless "nopv") and registers the shared page. */
void pv_init(void);
/* A hypercall the kernel cannot do without: a FAIL line if it failed. */
void pv_check_call(const char *what, int32_t r);

/* Interrupts: the virtual IF is one byte of the shared page. Enabling
 * calls the VMM only if it held an interrupt meanwhile. */
static inline void irq_off(void)
{
	if (pv_active) {
		pv_shared->irq_masked = 1;
		__asm__ volatile("" : : : "memory");
	} else {
		cli();
	}
}

static inline void irq_on(void)
{
	if (pv_active) {
		__asm__ volatile("" : : : "memory");
		pv_shared->irq_masked = 0;
		__asm__ volatile("" : : : "memory");
		if (pv_shared->irq_pending)
			pv_call(RINGVM_HC_EVENT, 0, 0, 0);
	} else {
		sti();
	}
}

static inline int irq_is_on(void)
{
	return pv_active ? !pv_shared->irq_masked : !!(read_eflags() & EFLAGS_IF);
}

/* PUSHF/POPF of the interrupt flag: the state, then back to it. */
static inline uint32_t irq_save(void)
{
	return pv_active ? pv_shared->irq_masked : read_eflags();
}

static inline void irq_restore(uint32_t f)
{
	if (!pv_active) {
		write_eflags(f);
	} else if (f) {
		irq_off();
	} else {
		irq_on();
	}
}

/* "sti; hlt": waits for an interrupt with interrupts on. */
static inline void irq_on_halt(void)
{
	if (pv_active)
		pv_call(RINGVM_HC_HALT, 0, 0, 0);
	else
		sti_hlt();
}

/* Nanoseconds since boot from the pvclock record, no exit; 0 without PV. */
uint64_t pv_clock_ns(void);

#endif
