/*
 * The PC devices every engine shares, all in user space: 16550A UART on
 * COM1, the 8259A PIC pair, the 8254 PIT, CMOS/RTC, the PS/2 controller
 * (enough for a reset), QEMU's isa-debug-exit on port 0xf4 and the port 0x80
 * sink; with --machine pc also the local APIC, IOAPIC, PCI and ACPI. One file per device; this header is what the VM core sees of them.
 */
#ifndef RINGVM_DEVICES_H
#define RINGVM_DEVICES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vm/vm.h"

struct vm;

/* Creates every device and registers it on vm->pio. Returns 0 or -1 (message on stderr). */
int devices_init(struct vm *vm);
void devices_destroy(struct vm *vm);

/* Runs whatever is due at host time now_ns: PIT ticks raise IRQ 0, bytes
 * waiting on stdin reach the UART (and may raise IRQ 4). Cheap when
 * nothing is due. */
void devices_poll(struct vm *vm, uint64_t now_ns);
/* Host time (ns) of the next device event, UINT64_MAX if none is armed. */
uint64_t devices_next_deadline(struct vm *vm);
/* A file descriptor to wait on while the guest halts (stdin), or -1. */
int devices_input_fd(struct vm *vm);
/* Puts stdin back the way it was (raw mode off). Safe to call twice and
 * from exit paths. */
void devices_restore_terminal(void);
/* Console output that is not a port write (the PV console hypercall):
 * the same sink, and the same flow control, as COM1's transmitter. */
void uart_console_write(struct vm *vm, const uint8_t *buf, size_t n);

/* Command-line pieces the devices own: --machine NAME and --drive SPEC
 * (file=IMG[,readonly], QEMU's spelling). -1 after one line on stderr;
 * machine_parse returns 1 after listing the machines for "help". */
int machine_parse(const char *name, enum machine *out);
int drive_parse(char *spec, struct vm_drive *out); /* parses spec in place */

/* ---- the device model
 *
 * A device is one file: its private state, a struct device_ops, and
 * DEVICE_REGISTER(ops). devices_init creates every registered device that
 * belongs to the machine (--machine) in `order`, then resets them;
 * devices_poll, devices_next_deadline and devices_destroy walk the same
 * list. Adding a device touches no other file (kvmtool's dev_init lists). */
struct device_ops {
	const char *name;
	int order;	   /* creation order, lowest first: hot port devices early */
	unsigned machines; /* MACHINE_* bits of the machines that have it */
	/* Returns the device's state (registered on the buses), or NULL after
	 * one line on stderr. */
	void *(*create)(struct vm *vm);
	void (*reset)(struct vm *vm, void *s);			  /* optional */
	void (*poll)(struct vm *vm, void *s, uint64_t now_ns);	  /* optional */
	uint64_t (*deadline)(struct vm *vm, void *s);		  /* optional: UINT64_MAX none */
	void (*destroy)(struct vm *vm, void *s);		  /* optional */
};

#define DEVICE_REGISTER(ops)                                                                 \
	static const struct device_ops *const device_entry_##ops                             \
		__attribute__((used, section("ringvm_devices"), aligned(sizeof(void *)))) = &ops

/* The state the device `ops` created in this VM, or NULL if it has none. */
void *devices_state(struct vm *vm, const struct device_ops *ops);
/* The machine this VM is (MACHINE_ISAPC when the config says nothing). */
enum machine devices_machine(const struct vm *vm);

/* ---- interrupts
 *
 * Devices raise ISA interrupt lines with irq_set; the lines go to the PIC and
 * to every other input that listens (the IOAPIC on --machine pc). The vCPU
 * sees one interrupt controller through struct intc: the PIC on isapc, the
 * local APIC (with the PIC behind it in virtual-wire mode) on pc. */
void irq_set(struct vm *vm, unsigned irq, bool level);
typedef void (*irq_listener)(struct vm *vm, void *s, unsigned irq, bool level);
int irq_listen(struct vm *vm, irq_listener fn, void *s);

struct intc {
	bool (*pending)(struct vm *vm, void *s);
	int (*ack)(struct vm *vm, void *s); /* vector, or -1 */
	/* CPU-side registers, NULL if the controller has none */
	bool (*msr)(struct vm *vm, void *s, uint32_t idx, uint64_t *v, bool is_write, uint64_t tsc);
	void (*cpuid1)(struct vm *vm, void *s, uint32_t out[4]);
};
/* The controller the vCPU talks to from now on (the local APIC's create). */
void intc_install(struct vm *vm, const struct intc *ops, void *s);
bool intc_pending(struct vm *vm);
int intc_ack(struct vm *vm);
bool intc_msr(struct vm *vm, uint32_t idx, uint64_t *v, bool is_write, uint64_t tsc);
void intc_cpuid1(struct vm *vm, uint32_t out[4]);

/* The APIC bus of a one-CPU machine (--machine pc): the IOAPIC's messages
 * to the local APIC, and the local APIC's EOI of a level-triggered vector
 * back to the IOAPIC. Both do nothing on a machine without them. */
void apic_bus_deliver(struct vm *vm, uint8_t dest, bool logical, uint8_t vector, bool level);
void apic_bus_eoi(struct vm *vm, uint8_t vector);

/* The 8259A pair as the vCPU and the other devices see it. */
void pic_set_irq(struct vm *vm, unsigned irq, bool level);
bool pic_has_interrupt(struct vm *vm);
int pic_acknowledge(struct vm *vm); /* vector, or -1 if nothing is pending */

#endif
