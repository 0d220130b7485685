/*
 * QEMU's pc-testdev, the ISA test device of kvm-unit-tests, next to the
 * debug-exit port: a 32-bit scratch register at ports 0xe0-0xe3 (a read
 * returns what was last written, at any width: how a test checks port I/O
 * of each size) and 24 interrupt lines at ports 0x2000-0x2017 (writing v
 * to 0x2000 + n sets ISA line n to v & 1: how a test raises an interrupt
 * of its choice, edge or level, through the PIC or the IOAPIC).
 */
#include <stdlib.h>
#include <string.h>

#include "devices_priv.h"

#define TESTDEV_IOPORT 0xe0
#define TESTDEV_IRQ 0x2000
#define TESTDEV_IRQS 24

struct testdev {
	uint8_t scratch[4];
};

static void testdev_ioport(struct vm *vm, void *dev, uint64_t addr, uint8_t *data,
			   unsigned len, bool is_write)
{
	struct testdev *t = dev;
	unsigned off = (unsigned)(addr - TESTDEV_IOPORT);
	for (unsigned k = 0; k < len; k++) {
		unsigned at = (off + k) & 3u;
		if (is_write)
			t->scratch[at] = data[k];
		else
			data[k] = t->scratch[at];
	}
}

static void testdev_irq(struct vm *vm, void *dev, uint64_t addr, uint8_t *data, unsigned len,
			bool is_write)
{
	if (!is_write) {
		memset(data, 0, len);
		return;
	}
	irq_set(vm, (unsigned)(addr - TESTDEV_IRQ), data[0] & 1);
}

static void *testdev_create(struct vm *vm)
{
	struct testdev *t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	if (bus_register(&vm->pio, TESTDEV_IOPORT, 4, testdev_ioport, t, "pc-testdev") < 0 ||
	    bus_register(&vm->pio, TESTDEV_IRQ, TESTDEV_IRQS, testdev_irq, t,
			 "pc-testdev irq") < 0) {
		free(t);
		return NULL;
	}
	return t;
}

static void testdev_destroy(struct vm *vm, void *s)
{
	free(s);
}

static const struct device_ops testdev_ops = { "pc-testdev", 150, MACHINE_ISAPC | MACHINE_PC,
					       testdev_create, NULL, NULL, NULL,
					       testdev_destroy };
DEVICE_REGISTER(testdev_ops);
