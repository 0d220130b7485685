/*
 * One virtual machine: guest RAM, the two buses and their devices, the
 * configuration, and the counters --stats prints. Nothing in here knows
 * which engine runs the vCPU.
 */
#ifndef RINGVM_VM_H
#define RINGVM_VM_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "engine.h"
#include "hypercall.h"
#include "kvm_para.h"
#include "stats.h"

/* Guest RAM starts at guest-physical 0 and must stay below the 32-bit
 * MMIO window (LAPIC/IOAPIC/BIOS at 0xfe000000 and up). */
#define VM_MEM_MIN (2ull << 20)
#define VM_MEM_MAX (3ull << 30)
#define VM_MEM_DEFAULT (128ull << 20)

/* ringvm's own exit statuses. The guest's debug-exit statuses are always
 * odd ((v << 1) | 1, QEMU's isa-debug-exit), so ours are even. */
#define RINGVM_EXIT_POWEROFF 0	 /* guest reset/powered off without a status */
#define RINGVM_EXIT_USAGE 2	 /* bad command line or input file */
#define RINGVM_EXIT_GUEST_DEAD 4 /* triple fault, dead halt, unrecoverable state */
#define RINGVM_EXIT_HOST 6	 /* host failure: engine unavailable, out of memory,
				    output that could not be written */
#define RINGVM_EXIT_SANDBOX 8	 /* the VMM made a system call its sandbox forbids */

/* Which PC the guest gets (--machine), by QEMU's names. */
enum machine {
	MACHINE_ISAPC = 1, /* 8259 PICs, 8254 PIT, UART, CMOS, i8042: the 1984 AT */
	MACHINE_PC = 2,	   /* + local APIC, IOAPIC, PCI host bridge, ACPI and MP tables */
};

#define VM_DRIVES_MAX 4 /* primary master, primary slave, secondary master, slave */

struct vm_drive {
	const char *file;
	bool readonly;
};

struct vm_config {
	const char *engine;
	enum machine machine; /* 0 means MACHINE_ISAPC */
	struct vm_drive drive[VM_DRIVES_MAX];
	unsigned n_drives;
	uint64_t mem_size;
	const char *kernel;
	const char *initrd;
	const char *append;
	const char *cpu; /* CPU model name (--cpu), NULL: the default */
	bool stats;
	bool trace;
	bool sandbox_off; /* --sandbox off: no system call allowlist (debugging) */
};

struct devices; /* src/devices/devices.h */

struct vm {
	struct vm_config cfg;
	int memfd;
	uint8_t *ram; /* the VMM's one mapping of guest RAM */
	uint64_t ram_size;
	struct bus pio, mmio;
	struct devices *dev;
	struct stats stats;
	struct pv pv; /* paravirtual ABI state (hypercall.c) */
	struct kvm_para kvm_para; /* KVM's PV interface for Linux (kvm_para.c) */
	/* The first error writing the guest's serial output (a full disk),
	 * 0 if none; a reader that went away (EPIPE) is not one. */
	int output_errno;

	/* Set by a device (debug-exit, reset) or the run loop to end the run. */
	bool stop;
	int exit_status;
	const char *stop_why;
	/* A device that could not be created because of the user's input
	 * (a --drive image) sets this to RINGVM_EXIT_USAGE; 0 otherwise. */
	int init_status;

	/* Set asynchronously (host timer signal) when a device deadline has
	 * passed; engines that run guest code for long stretches poll it and
	 * return EXIT_NONE so the run loop can service devices. */
	volatile sig_atomic_t kick;
};

struct vcpu {
	struct vm *vm;
	const struct engine *engine;
	void *priv;	/* the engine's own state */
	bool halted;	/* software engines: in HLT, waiting for an interrupt */
	/* The guest rang the PV doorbell (vcpu_pio): the engine stops right
	 * after that instruction, before any interrupt, and reports
	 * EXIT_HYPERCALL; the run loop calls hypercall_handle. */
	bool hypercall;
};

int vm_create(struct vm *vm, const struct vm_config *cfg);
void vm_destroy(struct vm *vm);

/* A pointer to len bytes of guest RAM at gpa, or NULL if any of it is not RAM. */
static inline uint8_t *vm_gpa(struct vm *vm, uint64_t gpa, uint64_t len)
{
	if (gpa >= vm->ram_size || len > vm->ram_size - gpa)
		return 0;
	return vm->ram + gpa;
}

/*
 * The VMM's side of an exit, shared by every engine. Software engines call
 * these synchronously from inside run(); the kvm engine's exits reach them
 * through the run loop. Each counts and times the exit for --stats.
 */
void vcpu_pio(struct vcpu *vcpu, uint16_t port, uint8_t *data, unsigned size, bool is_write);
/* Returns false if nothing claims gpa (reads then return all ones). */
bool vcpu_mmio(struct vcpu *vcpu, uint64_t gpa, uint8_t *data, unsigned len, bool is_write);

/* Interrupt controller as seen by a vCPU: is an interrupt waiting, and
 * acknowledge it (INTA cycle), which returns its vector or -1. */
bool vcpu_irq_pending(struct vcpu *vcpu);
int vcpu_irq_ack(struct vcpu *vcpu);

/* What the machine's interrupt controller adds to the CPU (--machine pc: the
 * local APIC): its MSRs (IA32_APIC_BASE, IA32_TSC_DEADLINE) and CPUID bits.
 * tsc is the guest's TSC now. False: no such MSR here (#GP). */
bool vcpu_platform_msr(struct vcpu *vcpu, uint32_t idx, uint64_t *v, bool is_write, uint64_t tsc);
/* Leaf 1's bits the platform supplies: EDX apic, ECX tsc-deadline, EBX APIC ID. */
void vcpu_platform_cpuid1(struct vcpu *vcpu, uint32_t out[4]);

/* Ends the run: status is the process exit status, why one line for the user. */
void vm_request_stop(struct vm *vm, int status, const char *why);

/* After a guest port access: kicks the engine back to the run loop if a
 * device event is due, or if a write moved the next device deadline
 * earlier than the armed timer (src/vm/run.c). */
void vm_deadline_check(struct vm *vm);

/* Monotonic host time in nanoseconds. */
uint64_t host_ns(void);

#endif
