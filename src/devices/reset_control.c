/*
 * The reset control register at port 0xcf9 (Intel chipsets since the
 * PIIX): bit 1 selects a hard reset, and setting bit 2 (RST_CPU) resets the
 * machine. Linux uses it with `reboot=pci` (and tries it after the i8042
 * when other ways fail); ringvm ends the run, status 0, as for the i8042's
 * reset line. Reads return bits 1 and 3 as last written.
 */
#include <string.h>

#include "devices_priv.h"

#define RCR_SYS_RST 0x02
#define RCR_RST_CPU 0x04
#define RCR_FULL_RST 0x08

static void reset_control_io(struct vm *vm, void *dev, uint64_t addr, uint8_t *data,
			     unsigned len, bool is_write)
{
	uint8_t *reg = dev;
	if (!is_write) {
		memset(data, 0, len);
		data[0] = *reg;
		return;
	}
	*reg = data[0] & (RCR_SYS_RST | RCR_FULL_RST);
	if (data[0] & RCR_RST_CPU)
		vm_request_stop(vm, RINGVM_EXIT_POWEROFF, "guest reset the machine (port 0xcf9)");
}

int reset_control_init(struct vm *vm)
{
	return bus_register(&vm->pio, 0xcf9, 1, reset_control_io, &vm->dev->reset_control,
			    "reset control (port 0xcf9)");
}
