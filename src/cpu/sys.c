/*
 * Control registers, the time-stamp counter, and the core's view of the
 * VMM (port IO, stats). CPUID and the MSRs are in cpumodel.c and msr.c.
 */
#include <x86intrin.h>

#include <Zydis/Zydis.h>

#include "cpu.h"
#include "decode.h"
#include "devices/devices.h"
#include "vm/vm.h"

void cr0_write(struct cpu *c, uint32_t v)
{
	if ((v & CR0_PG) && !(v & CR0_PE))
		cpu_raise(c, EXC_GP, 0);
	if ((v & CR0_NW) && !(v & CR0_CD))
		cpu_raise(c, EXC_GP, 0);
	v |= CR0_ET;
	/* Clearing PE enters real mode at CPL 0 (MOV to CR0 runs at CPL 0);
	 * the segment caches keep what they hold until the next loads
	 * (realmode.c). Setting PE changes nothing else either: the far jump
	 * that follows loads a protected-mode CS. */
	uint32_t changed = c->cr0 ^ v;
	c->cr0 = v;
	if (changed & (CR0_PG | CR0_WP | CR0_PE))
		tlb_flush(c);
}

void cr3_write(struct cpu *c, uint32_t v)
{
	c->cr3 = v;
	c->cr3_loads++;
	tlb_flush(c); /* global pages too: flushing more than needed is allowed */
}

#define CR4_PCE 0x100u
#define CR4_SUPPORTED (CR4_TSD | CR4_DE | CR4_PSE | CR4_PGE | CR4_PCE)

void cr4_write(struct cpu *c, uint32_t v)
{
	if (v & ~CR4_SUPPORTED)
		cpu_raise(c, EXC_GP, 0);
	c->cr4 = v;
	tlb_flush(c);
}

uint64_t tsc_read(struct cpu *c)
{
	return __rdtsc() + (uint64_t)c->tsc_offset;
}

void cpu_pio(struct cpu *c, uint16_t port, uint8_t *data, unsigned size, bool is_write)
{
	if (!c->vcpu) {
		if (!is_write)
			memset(data, 0xff, size);
		return;
	}
	vcpu_pio(c->vcpu, port, data, size, is_write);
	c->irq_check = true;
	if (c->vcpu->hypercall) {
		/* Stop after this instruction, before any interrupt: the
		 * dispatcher must see the registers of the call. */
		c->exit = EXIT_HYPERCALL;
		c->blk_end = NULL;
	} else if (c->vcpu->vm->stop) {
		c->exit = EXIT_IO;
	}
}

/* The PC wires the FPU's FERR# output to IRQ13 (CR0.NE=0 error reporting). */
void cpu_fpu_irq(struct cpu *c, bool level)
{
	if (c->vcpu) {
		pic_set_irq(c->vcpu->vm, 13, level);
		c->irq_check = true;
	}
}

void cpu_stats_event(struct cpu *c, const char *group, const char *name)
{
	if (c->vcpu)
		stats_event(&c->vcpu->vm->stats, group, name);
}

/* Counts an instruction (or feature) the guest used that is not
 * implemented; NULL means the instruction executing now. */
void cpu_unimplemented(struct cpu *c, const char *what)
{
	c->unimplemented++;
	if (!what)
		what = c->cur ? ZydisMnemonicGetString((ZydisMnemonic)c->cur->mnem) : "?";
	cpu_stats_event(c, "unimplemented", what ? what : "?");
}

bool cpu_irq_window_open(const struct cpu *c)
{
	return (c->eflags & EFLAGS_IF) && !c->shadow;
}
