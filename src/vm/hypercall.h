/*
 * The VMM's side of ringvm's paravirtual ABI (include/ringvm/pv.h): one
 * dispatcher for every engine. An engine that sees the guest ring the
 * doorbell (an OUT to RINGVM_PV_PORT, serviced by vcpu_pio) stops right
 * after that instruction and reports EXIT_HYPERCALL; the run loop then calls
 * hypercall_handle, which reads and writes the guest through the engine's
 * get_state/set_state/flush_tlb and guest RAM, never through engine code.
 */
#ifndef RINGVM_HYPERCALL_H
#define RINGVM_HYPERCALL_H

#include <stdbool.h>
#include <stdint.h>

#include "cpustate.h"
#include "pvclock.h"
#include "ringvm/pv.h"

struct vm;
struct vcpu;

/* Per-VM paravirtual state. */
struct pv {
	uint64_t shared_gpa; /* registered shared page, or 0 (page 0 is never accepted) */
	uint64_t calls[RINGVM_HC_COUNT + 1]; /* by number; the last slot: unknown numbers */
	uint64_t held;			     /* interrupts held back by the virtual IF */
	char why[96];			     /* the shutdown message */
};

/* Handles the pending hypercall (counted as an EXIT_HYPERCALL). Returns
 * true if the guest asked to halt until an event: the caller then waits as
 * for HLT (EFLAGS.IF is on). Software engines may call it themselves, right
 * where they saw the doorbell, instead of leaving to the run loop: it uses
 * only the engine's get_state/set_state/flush_tlb, guest RAM, the console
 * and vm_request_stop. */
bool hypercall_handle(struct vcpu *vcpu);

/* The virtual IF: false while the guest has interrupts masked in its shared
 * page, and then records the held interrupt in irq_pending. Called by
 * vcpu_irq_pending when the interrupt controller has one. */
bool pv_irq_accepted(struct vm *vm);

/* CPUID leaves 0x40000000-0x400000ff (ringvm's hypervisor leaves). Returns
 * false for other leaves. The CPU model's CPUID calls this for that range. */
bool pv_cpuid(uint32_t leaf, uint32_t out[4]);

/* Puts the per-call counts into --stats ("hypercall: NAME"). */
void hypercall_stats_flush(struct vm *vm);

/* --- validators, exposed for unit tests --- */

/* A descriptor (lo, hi) the guest wants in its GDT (in_ldt false) or LDT:
 * 0, or -RINGVM_EINVAL if it would give the guest what it does not own. */
int pv_check_descriptor(uint32_t lo, uint32_t hi, bool in_ldt);
/* A batch entry's pte_gpa: 0 (a PTE in RAM, or RINGVM_MMU_INVLPG),
 * -RINGVM_EFAULT (outside RAM) or -RINGVM_EINVAL (unaligned). */
int pv_check_pte_gpa(uint64_t ram_size, uint32_t pte_gpa);
/* Guest-linear to guest-physical through the guest's page tables as s
 * describes them (2-level, PSE; no PAE). 0, or -RINGVM_EFAULT. */
int pv_lin_to_phys(const uint8_t *ram, uint64_t ram_size, const struct cpu_state *s,
		   uint32_t lin, bool write, uint64_t *pa);

#endif
