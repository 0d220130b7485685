/*
 * QEMU's isa-debug-exit at 0xf4 (4 ports, any access size): a write of v
 * ends the run with status (v << 1) | 1, so a guest's exit code is the same
 * under ringvm and QEMU, and always odd: ringvm's own statuses are even.
 * QEMU calls exit((v << 1) | 1), of which a parent sees the low 8 bits, so
 * the status is truncated here, once: what ringvm prints is what it returns.
 */
#include <stdio.h>
#include <string.h>

#include "devices_priv.h"

#define DEBUG_EXIT_PORT 0xf4

static void debug_exit_io(struct vm *vm, void *dev, uint64_t addr, uint8_t *data,
			  unsigned len, bool is_write)
{
	char *why = dev;
	if (!is_write) {
		memset(data, 0, len);
		return;
	}
	uint32_t v = 0;
	for (unsigned i = 0; i < len && i < 4; i++)
		v |= (uint32_t)data[i] << (8 * i);
	if (!vm->stop) /* the first stop reason wins; keep its text too */
		snprintf(why, sizeof vm->dev->exit_why, "guest wrote 0x%x to the debug-exit port", v);
	vm_request_stop(vm, (int)(((v << 1) | 1) & 0xff), why);
}

int debug_exit_init(struct vm *vm)
{
	return bus_register(&vm->pio, DEBUG_EXIT_PORT, 4, debug_exit_io, vm->dev->exit_why,
			    "debug-exit");
}
