/*
 * The PC devices every engine shares, all in user space: 16550A UART on
 * COM1, the 8259A PIC pair, the 8254 PIT, CMOS/RTC, the PS/2 controller
 * (enough for a reset), QEMU's isa-debug-exit on port 0xf4 and the port 0x80
 * sink. One file per device; this header is what the VM core sees of them.
 */
#ifndef RINGVM_DEVICES_H
#define RINGVM_DEVICES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/* The 8259A pair as the vCPU and the other devices see it. */
void pic_set_irq(struct vm *vm, unsigned irq, bool level);
bool pic_has_interrupt(struct vm *vm);
int pic_acknowledge(struct vm *vm); /* vector, or -1 if nothing is pending */

#endif
