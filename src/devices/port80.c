/*
 * Port 0x80, where BIOSes and kernels write POST codes (and which Linux
 * writes to as a short I/O delay). Writes are kept; reads return the last
 * one, as on a POST card with readback.
 */
#include <string.h>

#include "devices_priv.h"

static void port80_io(struct vm *vm, void *dev, uint64_t addr, uint8_t *data, unsigned len,
		      bool is_write)
{
	uint8_t *last = dev;
	if (is_write) {
		*last = data[0];
		return;
	}
	memset(data, 0, len);
	data[0] = *last;
}

int port80_init(struct vm *vm)
{
	return bus_register(&vm->pio, 0x80, 1, port80_io, &vm->dev->port80, "post code (port 0x80)");
}
