/*
 * What a PC BIOS leaves in memory for the OS, written by ringvm into guest
 * RAM when the machine is created (there is no BIOS): the BIOS data area
 * (COM1's base, the EBDA segment, the base memory size) on every machine,
 * and on --machine pc the MP floating pointer and configuration table
 * (Intel MP spec 1.4) and the ACPI tables (RSDP, RSDT, FADT, FACS, DSDT,
 * MADT; ACPI 1.0 layout, which every ACPI OS reads). All of them describe
 * exactly the devices of src/devices: one CPU with local APIC 0 at
 * 0xfee00000, IOAPIC 1 at 0xfec00000 with 24 pins, ISA IRQ 0 on pin 2
 * (an interrupt source override), the PM1a blocks of acpi_pm.c.
 *
 * Everything lives in the BIOS area 0xf0000-0xfffff, which the Multiboot
 * memory map reports reserved, and is found the way the specifications say
 * an OS searches: the "_MP_" and "RSD PTR " signatures on 16-byte
 * boundaries in 0xf0000-0xfffff. Each table's bytes sum to zero.
 */
#include <string.h>

#include "devices_priv.h"

#define BDA_COM1 0x400
#define BDA_EBDA_SEG 0x40e
#define BDA_BASE_KIB 0x413
#define EBDA_SEG 0x9fc0u
#define BASE_KIB 639u

#define LAPIC_ADDR 0xfee00000u
#define IOAPIC_ADDR 0xfec00000u
#define IOAPIC_ID 1
#define SCI_IRQ 9

#define MP_FLOAT 0xf0000u
#define MP_CONFIG 0xf0010u
#define ACPI_RSDP 0xf0200u
#define ACPI_RSDT 0xf0220u
#define ACPI_FADT 0xf0280u
#define ACPI_FACS 0xf0300u /* 64-byte aligned */
#define ACPI_DSDT 0xf0340u
#define ACPI_MADT 0xf0400u
#define FIRMWARE_END 0xf0500u

static void put8(uint8_t *p, unsigned off, uint8_t v)
{
	p[off] = v;
}
static void put16(uint8_t *p, unsigned off, uint16_t v)
{
	memcpy(p + off, &v, 2);
}
static void put32(uint8_t *p, unsigned off, uint32_t v)
{
	memcpy(p + off, &v, 4);
}

static uint8_t checksum(const uint8_t *p, unsigned len)
{
	uint8_t s = 0;
	for (unsigned k = 0; k < len; k++)
		s += p[k];
	return (uint8_t)-s;
}

/* ---- MP tables */

static unsigned mp_io_int(uint8_t *p, unsigned off, uint8_t type, uint8_t bus, uint8_t irq,
			  uint8_t pin)
{
	put8(p, off, 3);
	put8(p, off + 1, type); /* 0 INT, 3 ExtINT */
	put16(p, off + 2, 0);	/* polarity and trigger: as the bus says */
	put8(p, off + 4, bus);
	put8(p, off + 5, irq);
	put8(p, off + 6, IOAPIC_ID);
	put8(p, off + 7, pin);
	return off + 8;
}

static void mp_tables(uint8_t *low)
{
	uint8_t *t = low + MP_CONFIG;
	unsigned off = 44, entries = 0;
	/* the processor */
	put8(t, off, 0);
	put8(t, off + 1, 0);	 /* local APIC ID */
	put8(t, off + 2, 0x14);	 /* local APIC version */
	put8(t, off + 3, 3);	 /* enabled, bootstrap processor */
	put32(t, off + 4, 0x600); /* family 6: the models --cpu offers */
	put32(t, off + 8, 1u << 9); /* features: APIC */
	off += 20, entries++;
	/* the buses: PCI 0, ISA 1 */
	memcpy(t + off, "\x01\x00PCI   ", 8), off += 8, entries++;
	memcpy(t + off, "\x01\x01ISA   ", 8), off += 8, entries++;
	/* the IOAPIC */
	put8(t, off, 2);
	put8(t, off + 1, IOAPIC_ID);
	put8(t, off + 2, 0x11);
	put8(t, off + 3, 1);
	put32(t, off + 4, IOAPIC_ADDR);
	off += 8, entries++;
	/* ISA interrupts: the PIC through pin 0, IRQ 0 on pin 2, the rest n -> n */
	off = mp_io_int(t, off, 3, 1, 0, 0), entries++;
	for (uint8_t irq = 0; irq < 16; irq++)
		if (irq != 2)
			off = mp_io_int(t, off, 0, 1, irq, irq ? irq : 2), entries++;
	/* local interrupts: ExtINT on LINT0, NMI on LINT1, every CPU */
	memcpy(t + off, "\x04\x03\x00\x00\x01\x00\xff\x00", 8), off += 8, entries++;
	memcpy(t + off, "\x04\x01\x00\x00\x01\x00\xff\x01", 8), off += 8, entries++;
	memcpy(t, "PCMP", 4);
	put16(t, 4, (uint16_t)off);
	put8(t, 6, 4); /* spec 1.4 */
	memcpy(t + 8, "RINGVM  ", 8);
	memcpy(t + 16, "PC          ", 12);
	put16(t, 34, (uint16_t)entries);
	put32(t, 36, LAPIC_ADDR);
	put8(t, 7, checksum(t, off));

	uint8_t *f = low + MP_FLOAT;
	memcpy(f, "_MP_", 4);
	put32(f, 4, MP_CONFIG);
	put8(f, 8, 1); /* 16 bytes */
	put8(f, 9, 4);
	/* feature bytes 0: the configuration table is there; no IMCR (virtual wire) */
	put8(f, 10, checksum(f, 16));
}

/* ---- ACPI */

static void acpi_header(uint8_t *t, const char *sig, uint32_t len, uint8_t rev)
{
	memcpy(t, sig, 4);
	put32(t, 4, len);
	put8(t, 8, rev);
	memcpy(t + 10, "RINGVM", 6);
	memcpy(t + 16, "RINGVMPC", 8);
	put32(t, 24, 1);
	memcpy(t + 28, "RVM ", 4);
	put32(t, 32, 1);
}

static void acpi_seal(uint8_t *t)
{
	uint32_t len;
	memcpy(&len, t + 4, 4);
	t[9] = 0;
	t[9] = checksum(t, len);
}

/* Name (_S5, Package (4) { 5, 5, 0, 0 }): the sleep type value for soft
 * off, which the OS writes to PM1a_CNT.SLP_TYP with SLP_EN (acpi_pm.c). */
static const uint8_t dsdt_aml[] = { 0x08, '_',	'S',  '5',  '_',  0x12, 0x08,
				    0x04, 0x0a, 0x05, 0x0a, 0x05, 0x00, 0x00 };

static void acpi_tables(uint8_t *low)
{
	uint8_t *dsdt = low + ACPI_DSDT;
	acpi_header(dsdt, "DSDT", 36 + sizeof dsdt_aml, 1);
	memcpy(dsdt + 36, dsdt_aml, sizeof dsdt_aml);
	acpi_seal(dsdt);

	uint8_t *facs = low + ACPI_FACS;
	memcpy(facs, "FACS", 4);
	put32(facs, 4, 64);

	uint8_t *fadt = low + ACPI_FADT;
	acpi_header(fadt, "FACP", 116, 1);
	put32(fadt, 36, ACPI_FACS);
	put32(fadt, 40, ACPI_DSDT);
	put16(fadt, 46, SCI_IRQ);
	/* SMI_CMD 0: ACPI mode is always on (SCI_EN reads 1). */
	put32(fadt, 56, 0x600); /* PM1a_EVT_BLK */
	put32(fadt, 64, 0x604); /* PM1a_CNT_BLK */
	put32(fadt, 76, 0x608); /* PM_TMR_BLK */
	put8(fadt, 88, 4);
	put8(fadt, 89, 2);
	put8(fadt, 91, 4);
	put16(fadt, 96, 0x0fff); /* no C2 */
	put16(fadt, 98, 0x0fff); /* no C3 */
	/* WBINVD, C1, power and sleep buttons are not fixed features */
	put32(fadt, 112, 1u << 0 | 1u << 2 | 1u << 4 | 1u << 5);
	acpi_seal(fadt);

	uint8_t *madt = low + ACPI_MADT;
	unsigned off = 44;
	put32(madt, 36, LAPIC_ADDR);
	put32(madt, 40, 1); /* PCAT_COMPAT: there are 8259s too */
	memcpy(madt + off, "\x00\x08\x00\x00\x01\x00\x00\x00", 8), off += 8; /* CPU 0, APIC 0 */
	put8(madt, off, 1), put8(madt, off + 1, 12), put8(madt, off + 2, IOAPIC_ID);
	put32(madt, off + 4, IOAPIC_ADDR), put32(madt, off + 8, 0), off += 12;
	/* ISA IRQ 0 -> GSI 2; the SCI, level-triggered active high */
	memcpy(madt + off, "\x02\x0a\x00\x00\x02\x00\x00\x00\x00\x00", 10), off += 10;
	memcpy(madt + off, "\x02\x0a\x00\x09\x09\x00\x00\x00\x0d\x00", 10), off += 10;
	memcpy(madt + off, "\x04\x06\xff\x00\x00\x01", 6), off += 6; /* NMI on LINT1 */
	acpi_header(madt, "APIC", off, 1);
	acpi_seal(madt);

	uint8_t *rsdt = low + ACPI_RSDT;
	acpi_header(rsdt, "RSDT", 36 + 8, 1);
	put32(rsdt, 36, ACPI_FADT);
	put32(rsdt, 40, ACPI_MADT);
	acpi_seal(rsdt);

	uint8_t *rsdp = low + ACPI_RSDP;
	memcpy(rsdp, "RSD PTR ", 8);
	memcpy(rsdp + 9, "RINGVM", 6);
	put8(rsdp, 15, 0); /* ACPI 1.0: no XSDT */
	put32(rsdp, 16, ACPI_RSDT);
	put8(rsdp, 8, checksum(rsdp, 20));
}

static void bda(uint8_t *low)
{
	put16(low, BDA_COM1, 0x3f8);
	put16(low, BDA_EBDA_SEG, EBDA_SEG);
	put16(low, BDA_BASE_KIB, BASE_KIB);
}

static void *firmware_create(struct vm *vm)
{
	return vm->dev; /* no state of its own: the tables are in guest RAM */
}

static void firmware_reset(struct vm *vm, void *s)
{
	uint8_t *low = vm_gpa(vm, 0, FIRMWARE_END);
	if (!low || !vm->ram)
		return; /* unit tests without RAM */
	memset(low + 0x400, 0, 0x100);
	bda(low);
	memset(low + 0xf0000, 0, 0x10000);
	if (devices_machine(vm) == MACHINE_PC) {
		mp_tables(low);
		acpi_tables(low);
	}
}

static const struct device_ops firmware_ops = { "firmware tables", 200,
						MACHINE_ISAPC | MACHINE_PC, firmware_create,
						firmware_reset, NULL, NULL, NULL };
DEVICE_REGISTER(firmware_ops);
