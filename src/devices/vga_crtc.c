/*
 * The CRT controller of a colour text display (CGA/VGA) at ports 0x3d4
 * (index) and 0x3d5 (data), --machine pc: its registers hold what was
 * written (the cursor position, 14 and 15, above all), and read back as
 * such. ringvm shows no screen (guest RAM at 0xb8000 is plain memory, and
 * the console is COM1), but kernels that also print to the screen keep the
 * cursor there: xv6 reads it back after every character and panics when an
 * absent controller answers 0xffff ("pos under/overflow"). Every PC and
 * QEMU's pc machine have one.
 */
#include <stdlib.h>
#include <string.h>

#include "devices_priv.h"

#define CRTC_PORT 0x3d4
#define CRTC_REGS 0x19

struct vga_crtc {
	uint8_t index;
	uint8_t reg[CRTC_REGS];
};

static void crtc_io(struct vm *vm, void *dev, uint64_t addr, uint8_t *data, unsigned len,
		    bool is_write)
{
	struct vga_crtc *v = dev;
	/* A 16-bit write to 0x3d4 is index then data, as on the hardware. */
	for (unsigned k = 0; k < len; k++) {
		unsigned port = (unsigned)(addr - CRTC_PORT) + k;
		if (port == 0) {
			if (is_write)
				v->index = data[k];
			else
				data[k] = v->index;
		} else if (port == 1) {
			if (v->index >= CRTC_REGS) {
				if (!is_write)
					data[k] = 0xff;
			} else if (is_write) {
				v->reg[v->index] = data[k];
			} else {
				data[k] = v->reg[v->index];
			}
		} else if (!is_write) {
			data[k] = 0xff;
		}
	}
}

static void *crtc_create(struct vm *vm)
{
	struct vga_crtc *v = calloc(1, sizeof *v);
	if (!v)
		return NULL;
	if (bus_register(&vm->pio, CRTC_PORT, 2, crtc_io, v, "VGA CRT controller") < 0) {
		free(v);
		return NULL;
	}
	return v;
}

static void crtc_destroy(struct vm *vm, void *s)
{
	free(s);
}

static const struct device_ops crtc_ops = { "VGA CRT controller", 170, MACHINE_PC, crtc_create,
					    NULL, NULL, NULL, crtc_destroy };
DEVICE_REGISTER(crtc_ops);
