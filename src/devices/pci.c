/*
 * PCI (--machine pc): configuration mechanism #1 on ports 0xcf8 (the
 * 32-bit address register) and 0xcfc-0xcff (the data window), and bus 0
 * with the functions of this machine. A kernel for an SMP-era PC
 * enumerates bus 0 and reads each function's IDs, class, BARs and
 * interrupt line before it trusts anything else.
 *
 * Bus 0 holds one function, the host bridge at 00.0 (class 06 00, the IDs
 * of QEMU's generic host bridge, 1b36:0008, so guests treat it as the plain
 * bridge it is). Empty slots read all ones, as on hardware. Each function's
 * BARs follow the PCI sizing protocol (write all ones, read back the size
 * mask); the interrupt line register is storage the OS owns. The disks are
 * the legacy ISA IDE channels (ata.c), found without PCI.
 *
 * Port 0xcf9 stays the reset control register (reset_control.c): only a
 * 32-bit access at 0xcf8 is the address register, as on Intel chipsets.
 */
#include <stdlib.h>
#include <string.h>

#include "devices_priv.h"

#define PCI_ADDR_PORT 0xcf8
#define PCI_DATA_PORT 0xcfc
#define PCI_ENABLE (1u << 31)

struct pci_bar {
	uint32_t size; /* a power of two, 0: no BAR */
	bool io;
};

struct pci_function {
	uint8_t dev, fn;
	uint16_t vendor, device;
	uint32_t class_rev; /* class << 8 | revision */
	struct pci_bar bar[6];
	/* what the guest may change */
	uint16_t command;
	uint32_t bar_val[6];
	uint8_t int_line, int_pin, latency;
};

struct pci {
	uint32_t addr;
	struct pci_function fn[1];
	unsigned n;
};

static struct pci_function *find(struct pci *p)
{
	if (!(p->addr & PCI_ENABLE) || ((p->addr >> 16) & 0xffu))
		return NULL; /* disabled, or not bus 0 */
	unsigned dev = (p->addr >> 11) & 0x1fu, fn = (p->addr >> 8) & 7u;
	for (unsigned k = 0; k < p->n; k++)
		if (p->fn[k].dev == dev && p->fn[k].fn == fn)
			return &p->fn[k];
	return NULL;
}

static uint32_t cfg_read(const struct pci_function *f, unsigned reg)
{
	switch (reg) {
	case 0x00: return (uint32_t)f->device << 16 | f->vendor;
	case 0x04: return f->command;
	case 0x08: return f->class_rev;
	case 0x0c: return (uint32_t)f->latency << 8; /* header type 0, single function */
	case 0x2c: return (uint32_t)f->device << 16 | f->vendor; /* subsystem */
	case 0x3c: return (uint32_t)f->int_pin << 8 | f->int_line;
	default:
		if (reg >= 0x10 && reg < 0x28)
			return f->bar_val[(reg - 0x10) / 4];
		return 0;
	}
}

static void cfg_write(struct pci_function *f, unsigned reg, uint32_t v, uint32_t mask)
{
	uint32_t old = cfg_read(f, reg), nv = (old & ~mask) | (v & mask);
	if (reg == 0x04) {
		f->command = (uint16_t)(nv & 0x0507u); /* I/O, memory, master, SERR, INTx disable */
	} else if (reg == 0x0c) {
		f->latency = (uint8_t)(nv >> 8);
	} else if (reg == 0x3c) {
		f->int_line = (uint8_t)nv;
	} else if (reg >= 0x10 && reg < 0x28) {
		const struct pci_bar *b = &f->bar[(reg - 0x10) / 4];
		if (b->size) /* the size mask tells the size; the type bits stay */
			f->bar_val[(reg - 0x10) / 4] = (nv & ~(b->size - 1)) | (b->io ? 1u : 0u);
	}
}

static void pci_addr_io(struct vm *vm, void *dev, uint64_t addr, uint8_t *data, unsigned len,
			bool is_write)
{
	struct pci *p = dev;
	if (len != 4) { /* 0xcf8 as a byte is not the address register */
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	if (is_write)
		memcpy(&p->addr, data, 4), p->addr &= 0x80fffffcu;
	else
		memcpy(data, &p->addr, 4);
}

static void pci_data_io(struct vm *vm, void *dev, uint64_t addr, uint8_t *data, unsigned len,
			bool is_write)
{
	struct pci *p = dev;
	struct pci_function *f = find(p);
	unsigned reg = p->addr & 0xfcu, shift = 8 * (unsigned)(addr - PCI_DATA_PORT);
	if (!is_write) {
		uint32_t v = f ? cfg_read(f, reg) >> shift : 0xffffffffu;
		memcpy(data, &v, len < 4 ? len : 4);
		return;
	}
	if (!f)
		return;
	uint32_t v = 0;
	memcpy(&v, data, len < 4 ? len : 4);
	uint32_t mask = (len >= 4 ? 0xffffffffu : ((1u << (8 * len)) - 1)) << shift;
	cfg_write(f, reg, v << shift, mask);
}

static void *pci_create(struct vm *vm)
{
	struct pci *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	p->fn[0] = (struct pci_function){ .dev = 0, .fn = 0, .vendor = 0x1b36, .device = 0x0008,
					  .class_rev = 0x06000000u, .command = 0x0006 };
	p->n = 1;
	if (bus_register(&vm->pio, PCI_ADDR_PORT, 1, pci_addr_io, p, "PCI address") < 0 ||
	    bus_register(&vm->pio, PCI_DATA_PORT, 4, pci_data_io, p, "PCI data") < 0) {
		free(p);
		return NULL;
	}
	return p;
}

static void pci_destroy(struct vm *vm, void *s)
{
	free(s);
}

static const struct device_ops pci_ops = { "PCI host bridge", 120, MACHINE_PC, pci_create, NULL,
					   NULL, NULL, pci_destroy };
DEVICE_REGISTER(pci_ops);
