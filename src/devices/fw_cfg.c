/*
 * QEMU's firmware configuration interface (fw_cfg), the traditional I/O
 * form: a 16-bit selector written to port 0x510 picks an item, and port
 * 0x511 reads it a byte at a time from its start. Test guests and firmware
 * learn the machine from it; ringvm offers the items that describe this
 * machine, in QEMU's formats: the "QEMU" signature, the interface ID
 * (1: traditional interface, no DMA), the RAM size, the CPU count (boot
 * and maximum), and the file directory with one file, etc/e820 (QEMU's
 * memory map: le64 address, le64 length, le32 type per entry).
 * An unknown item reads as zeros, as does a read past an item's end.
 */
#include <stdlib.h>
#include <string.h>

#include "devices_priv.h"

#define FW_CFG_PORT 0x510
#define FW_SIGNATURE 0x00
#define FW_ID 0x01
#define FW_RAM_SIZE 0x03
#define FW_NB_CPUS 0x05
#define FW_MAX_CPUS 0x0f
#define FW_FILE_DIR 0x19
#define FW_FILE_FIRST 0x20
#define E820_RAM 1u

struct fw_cfg {
	uint16_t sel;
	uint32_t off;
	uint8_t sig[4], id[4], ram[8], cpus[2];
	uint8_t dir[4 + 64];
	uint8_t e820[20];
};

static void be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static const uint8_t *item(const struct fw_cfg *f, uint16_t sel, uint32_t *len)
{
	switch (sel) {
	case FW_SIGNATURE: *len = 4; return f->sig;
	case FW_ID: *len = 4; return f->id;
	case FW_RAM_SIZE: *len = 8; return f->ram;
	case FW_NB_CPUS: case FW_MAX_CPUS: *len = 2; return f->cpus;
	case FW_FILE_DIR: *len = sizeof f->dir; return f->dir;
	case FW_FILE_FIRST: *len = sizeof f->e820; return f->e820;
	default: *len = 0; return NULL;
	}
}

static void fw_cfg_io(struct vm *vm, void *dev, uint64_t addr, uint8_t *data, unsigned len,
		      bool is_write)
{
	struct fw_cfg *f = dev;
	if (addr == FW_CFG_PORT) {
		if (is_write) {
			uint16_t v = data[0];
			if (len >= 2)
				v |= (uint16_t)(data[1] << 8);
			f->sel = v;
			f->off = 0;
		} else {
			memset(data, 0, len);
		}
		return;
	}
	if (is_write)
		return; /* items are read-only */
	for (unsigned k = 0; k < len; k++) {
		uint32_t n;
		const uint8_t *p = item(f, f->sel, &n);
		data[k] = p && f->off < n ? p[f->off] : 0;
		if (p && f->off < n)
			f->off++;
	}
}

static void *fw_cfg_create(struct vm *vm)
{
	struct fw_cfg *f = calloc(1, sizeof *f);
	if (!f)
		return NULL;
	memcpy(f->sig, "QEMU", 4);
	f->id[0] = 1;
	memcpy(f->ram, &vm->ram_size, 8);
	f->cpus[0] = 1;
	be32(f->dir, 1);
	be32(f->dir + 4, sizeof f->e820);
	f->dir[8] = FW_FILE_FIRST >> 8, f->dir[9] = FW_FILE_FIRST & 0xff;
	strcpy((char *)f->dir + 12, "etc/e820");
	uint64_t ram = vm->ram_size;
	memcpy(f->e820 + 8, &ram, 8);
	uint32_t t = E820_RAM;
	memcpy(f->e820 + 16, &t, 4);
	if (bus_register(&vm->pio, FW_CFG_PORT, 2, fw_cfg_io, f, "fw_cfg") < 0) {
		free(f);
		return NULL;
	}
	return f;
}

static void fw_cfg_destroy(struct vm *vm, void *s)
{
	free(s);
}

static const struct device_ops fw_cfg_ops = { "fw_cfg", 140, MACHINE_ISAPC | MACHINE_PC,
					      fw_cfg_create, NULL, NULL, NULL, fw_cfg_destroy };
DEVICE_REGISTER(fw_cfg_ops);
